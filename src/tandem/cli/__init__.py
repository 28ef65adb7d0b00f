"""Command-line front ends: `tandem` and the seed-compatible commands."""
