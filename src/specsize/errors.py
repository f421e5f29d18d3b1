"""Every user-facing failure in specsize is a SpecsizeError: the CLI prints its message as one line."""


class SpecsizeError(Exception):
    """A problem with the user's input or environment, worded as what is wrong and how to fix it."""


class ConfigError(SpecsizeError):
    """A model config.json that is missing, unreadable, malformed, or of an unsupported family."""


class CatalogError(SpecsizeError):
    """An unknown catalog name (model, GPU, precision, link, engine...)."""


class PlanError(SpecsizeError):
    """A request the planner cannot satisfy or does not understand (bad layout, impossible workload)."""


class EngineError(SpecsizeError):
    """A model directory the engine cannot run: one line saying what and where."""
