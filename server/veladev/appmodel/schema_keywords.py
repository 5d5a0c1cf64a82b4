"""JSON Schema keywords whose error messages name a list or an object briefly.

jsonschema words these errors with the whole instance, `repr`'d when the error is made (e.g.
`type`: f"{instance!r} is not of type ..."), so one wrong value costs as much as the value is
large, however large aliases make it. These check exactly what jsonschema's own
(`jsonschema/_keywords.py`) check; only the message shows a bounded summary of the instance.
"""

from __future__ import annotations

from typing import Any

from jsonschema import ValidationError
from jsonschema._utils import equal, uniq

#: Longest text of a scalar shown in a message.
_SHOWN = 60


def brief(value: Any) -> str:
    """A short, bounded description of a value for a message."""
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"an object with {len(value)} propert{'y' if len(value) == 1 else 'ies'}"
    text = repr(value[: _SHOWN + 1] if isinstance(value, str) else value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def type_(validator, types, instance, schema):
    types = types if isinstance(types, list) else [types]
    if not any(validator.is_type(instance, t) for t in types):
        yield ValidationError(f"{brief(instance)} is not of type {', '.join(repr(t) for t in types)}")


def enum(validator, enums, instance, schema):
    if all(not equal(each, instance) for each in enums):
        yield ValidationError(f"{brief(instance)} is not one of {enums!r}")


def _size_check(kind: str, too_few: bool):
    def check(validator, limit, instance, schema):
        if validator.is_type(instance, kind) and (len(instance) < limit if too_few else len(instance) > limit):
            what = "items" if kind == "array" else "properties"
            yield ValidationError(
                f"{brief(instance)} should not be empty"
                if too_few and limit == 1
                else f"{brief(instance)} has {'fewer' if too_few else 'more'} than {limit} {what}"
            )

    return check


def uniqueItems(validator, unique, instance, schema):
    if unique and validator.is_type(instance, "array") and not uniq(instance):
        yield ValidationError(f"{brief(instance)} has non-unique elements")


def anyOf(validator, any_of, instance, schema):
    all_errors = []
    for index, subschema in enumerate(any_of):
        errs = list(validator.descend(instance, subschema, schema_path=index))
        if not errs:
            return
        all_errors.extend(errs)
    yield ValidationError(f"{brief(instance)} is not valid under any of the given schemas", context=all_errors)


def oneOf(validator, one_of, instance, schema):
    all_errors = []
    valid: list[int] = []
    for index, subschema in enumerate(one_of):
        if valid:
            if validator.evolve(schema=subschema).is_valid(instance):
                valid.append(index)
            continue
        errs = list(validator.descend(instance, subschema, schema_path=index))
        if not errs:
            valid.append(index)
        all_errors.extend(errs)
    if not valid:
        yield ValidationError(f"{brief(instance)} is not valid under any of the given schemas", context=all_errors)
    elif len(valid) > 1:
        yield ValidationError(
            f"{brief(instance)} is valid under more than one of the given schemas "
            f"(variants {', '.join(map(str, valid))})"
        )


def not_(validator, not_schema, instance, schema):
    if validator.evolve(schema=not_schema).is_valid(instance):
        yield ValidationError(f"{brief(instance)} must not be valid under the schema in 'not'")


def contains(validator, contains_schema, instance, schema):
    if not validator.is_type(instance, "array"):
        return
    check = validator.evolve(schema=contains_schema)
    matches = sum(1 for each in instance if check.is_valid(each))
    least, most = schema.get("minContains", 1), schema.get("maxContains", len(instance))
    if matches < least:
        yield ValidationError(
            f"{brief(instance)} has {matches} item(s) matching the 'contains' schema, fewer than {least}"
        )
    elif matches > most:
        yield ValidationError(
            f"{brief(instance)} has {matches} items matching the 'contains' schema, more than {most}",
            validator="maxContains",
            validator_value=most,
        )


#: Keyword name -> check, for `jsonschema.validators.extend`.
BRIEF_KEYWORDS = {
    "type": type_,
    "enum": enum,
    "minItems": _size_check("array", True),
    "maxItems": _size_check("array", False),
    "minProperties": _size_check("object", True),
    "maxProperties": _size_check("object", False),
    "uniqueItems": uniqueItems,
    "anyOf": anyOf,
    "oneOf": oneOf,
    "not": not_,
    "contains": contains,
}
