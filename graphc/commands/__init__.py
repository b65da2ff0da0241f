"""Subcommands of the `graphc` command line, one module each."""
