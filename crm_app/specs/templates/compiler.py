"""Compile a playbook template the way `check` sees it: syntax, filters, tests and the variables it names.

A template is rendered later, per person, with the context `services/playbooks/messaging.build_context`
builds. Everything that context can hold is listed here, so a name that can never exist is an error now,
at file:line, instead of a dead action at run time.
"""
from __future__ import annotations

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from crm_app.errors import did_you_mean

ENVIRONMENT = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
# Variable -> the keys it holds, or the type of its value (whose methods a template may call).
VARIABLES: dict[str, frozenset | type] = {
    "playbook": str, "subject_id": int, "model": str, "name": str, "email": str, "company": str,
    "score": frozenset({"combined", "fit", "behaviour", "band", "pql"}),
    "reasons": list, "signals": list, "top_signals": str,
    "guidance": frozenset({"tier", "advice"}),
    "firmographics": list,
    "owner": frozenset({"email", "name"}),
    "crm": frozenset({"id", "object", "url"}),
}


def template_problems(text: str) -> list[tuple[int, str, str | None]]:
    """(line within the template, what is wrong and how to fix it, did-you-mean) for each problem; [] if it
    compiles and names only variables the context has."""
    try:
        tree = ENVIRONMENT.parse(text)
    except TemplateSyntaxError as exc:
        return [(exc.lineno or 1, f"template error: {exc.message}", None)]
    problems = []
    for node in tree.find_all(nodes.Filter):
        if node.name not in ENVIRONMENT.filters:
            problems.append((node.lineno, f"unknown filter '{node.name}'; use a Jinja built-in filter such as "
                             "'upper', 'default' or 'round'", did_you_mean(node.name, ENVIRONMENT.filters)))
    for node in tree.find_all(nodes.Test):
        if node.name not in ENVIRONMENT.tests:
            problems.append((node.lineno, f"unknown test '{node.name}'; use a Jinja built-in test such as "
                             "'defined' or 'none'", did_you_mean(node.name, ENVIRONMENT.tests)))
    if problems:
        return sorted(set(problems))  # the compiler below stops at the first unknown filter or test
    try:
        declared = meta.find_undeclared_variables(tree)
    except TemplateError as exc:
        return [(getattr(exc, "lineno", None) or 1, f"template error: {getattr(exc, 'message', exc)}", None)]
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in declared and node.name not in VARIABLES:
            problems.append((node.lineno, f"'{node.name}' is not a template variable; use one of: "
                             f"{', '.join(VARIABLES)}", did_you_mean(node.name, VARIABLES)))
    problems += _unknown_keys(tree, declared)
    return sorted(set(problems), key=lambda p: (p[0], p[1]))



def _unknown_keys(tree, declared: set) -> list:
    """`score.cmbined`, `owner['mail']` or `company.tier`: a key or attribute the context never holds."""
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = node.node
        if not isinstance(base, nodes.Name) or base.name not in declared or base.name not in VARIABLES:
            continue
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            key = node.arg.value
        else:
            continue
        held = VARIABLES[base.name]
        if isinstance(held, frozenset) and key not in held and not hasattr(dict, key):
            found.append((node.lineno, f"'{base.name}' has no '{key}'; use one of: {', '.join(sorted(held))}",
                          did_you_mean(key, held)))
        elif isinstance(held, type) and (isinstance(node, nodes.Getitem) or not hasattr(held, key)):
            found.append((node.lineno, f"'{base.name}' is {_kind(held)}, with no '{key}'; write "
                          f"{{{{ {base.name} }}}}", None))
    return found


def _kind(held: type) -> str:
    return {str: "text", int: "a number", list: "a list"}.get(held, held.__name__)
