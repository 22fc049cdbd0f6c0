"""``check_config``: every error of a config that may still hold ``${stage.NAME}`` references.

What is checked, in order:

1. reference syntax (``${stage.}``, ``${foo.x}``, an unclosed ``${``) and variable names; when
   any is wrong, those errors alone are returned (nothing can be rendered);
2. references to a variable defined nowhere: ``undefined stage variable 'X' (define it in
   variables or stage_variables)`` at the path of each use;
3. for each stage in ``stage_variables``: a variable with no value for that stage, else the
   stage's rendering is compiled;
4. the rendering with the defaults alone is compiled when the defaults resolve every reference
   (always the case for a config without references).

An error found in every compiled rendering is reported once, as is; one found in only some is
reported per rendering with its message prefixed ``(stage prod)`` or ``(default values)``.
"""

from __future__ import annotations

from edgeway.common.config.variables import (
    check_references,
    find_references,
    render_defaults,
    render_for_stage,
    stage_values,
)
from edgeway.common.errors import ConfigError, join_path
from edgeway.edge.compile.compiler import compile_errors
from edgeway.edge.policies.registry import PolicyRegistry
from edgeway.v1.config_pb2 import GatewayConfig

__all__ = ["check_config"]

DEFAULTS_LABEL = "default values"


def check_config(
    config: GatewayConfig, registry: PolicyRegistry | None = None
) -> list[ConfigError]:
    """Every error of ``config`` (see the module docstring); empty when it is valid for every
    stage it names."""
    syntax = check_references(config)
    if syntax:
        return syntax
    references = find_references(config)
    defined = set(config.variables)
    for variable_set in config.stage_variables.values():
        defined.update(variable_set.values)
    errors: list[ConfigError] = [
        ConfigError(
            path,
            f"undefined stage variable {name!r} (define it in variables or stage_variables)",
        )
        for path, name in references
        if name not in defined
    ]
    renderings: list[tuple[str, list[ConfigError]]] = []
    if all(name in config.variables for _, name in references):
        renderings.append((DEFAULTS_LABEL, compile_errors(render_defaults(config), registry)))
    for stage in sorted(config.stage_variables):
        values = stage_values(config, stage)
        unresolved = [(path, name) for path, name in references if name not in values]
        for path, name in unresolved:
            if name in defined:
                errors.append(
                    ConfigError(
                        path,
                        f"(stage {stage}) stage variable {name!r} has no value for stage "
                        f"{stage!r} (set it in variables or "
                        f"{join_path('stage_variables', stage)})",
                    )
                )
        if not unresolved:
            rendered = render_for_stage(config, stage)
            renderings.append((f"stage {stage}", compile_errors(rendered, registry)))
    errors.extend(_merge(renderings))
    return _unique(errors)


def _merge(renderings: list[tuple[str, list[ConfigError]]]) -> list[ConfigError]:
    """Errors of all renderings: those common to all as is, the others labelled."""
    if not renderings:
        return []
    common = set(renderings[0][1]).intersection(*(set(errs) for _, errs in renderings[1:]))
    merged: list[ConfigError] = []
    for label, errs in renderings:
        for error in errs:
            if error in common:
                merged.append(error)
            else:
                merged.append(ConfigError(error.path, f"({label}) {error.message}"))
    return merged


def _unique(errors: list[ConfigError]) -> list[ConfigError]:
    seen: set[ConfigError] = set()
    result: list[ConfigError] = []
    for error in errors:
        if error not in seen:
            seen.add(error)
            result.append(error)
    return result
