"""Cluster configuration: typed model, TOML loader and validation."""

from tandem.config.errors import ConfigError
from tandem.config.loader import load_config, parse_config
from tandem.config.model import ClusterConfig, NodeDef, ServiceDef

__all__ = ["ClusterConfig", "ConfigError", "NodeDef", "ServiceDef", "load_config",
           "parse_config"]
