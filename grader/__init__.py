"""The kata machinery: the roadmap, the stub generator, the pytest plugin and the CLI."""
