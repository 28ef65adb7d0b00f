"""tandem: high availability for HPC clusters."""

__version__ = "0.1.0"
