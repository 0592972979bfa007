"""Where the service relies on more of Cerberus (through Eve's validator) than its public
API: every such use is here, and tests/unit/test_library_seams.py pins each one, so that
an upgrade of Cerberus fails one named test instead of every POST.
(The `_validate_<rule>` methods and `self._error` of service/validation.py are
Cerberus' documented way to write rules, not internals.)

- schema_checked_once: the validator's schema is a CheckedOnce, which Cerberus checks
  once per process, not once per document.
- accept_as_is: a document the service has checked itself (a plain input,
  service/validation.py) is accepted with the state Cerberus' own validate() leaves:
  no errors, error trees empty, the document a copy of what was sent."""
from collections.abc import Mapping
from copy import copy
from typing import Any, ClassVar

from cerberus import Validator, errors
from cerberus.schema import DefinitionSchema

# A schema as the caches know it: its fields and the ids of their rules objects
SchemaKey = tuple[tuple[str, int], ...]


class CheckedOnce(DefinitionSchema):
    """A resource schema that Cerberus checks once per process, not once per document.

    Normalising a document copies the validator's schema and sets each field's rules
    again, and Cerberus checks the schema anew each time: it hashes the whole schema
    and its table of types to find it in its cache, about 0.6 ms a document, most of a
    bulk POST's time. The rules are the settings' own dicts, never changed at request
    time, so a schema made of the same rules objects as one already checked is trusted;
    the objects are kept here, so their ids stay theirs."""
    checked: ClassVar[dict[SchemaKey, list[Any]]] = {}
    expanded: ClassVar[dict[SchemaKey, list[Any]]] = {}

    @classmethod
    def expand(cls, schema: dict[str, Any]) -> dict[str, Any]:
        """Cerberus expands rules in place, so rules it has expanded once stay expanded:
        when its expansion kept the same rules objects, later ones are skipped."""
        key = tuple((field, id(rules)) for field, rules in schema.items())
        if key in cls.expanded:
            return schema
        result: dict[str, Any] = super().expand(schema)
        if all(result.get(field) is rules for field, rules in schema.items()):
            cls.expanded[key] = list(schema.values())
        return result

    def validate(self, schema: Mapping[str, Any] | None = None) -> None:
        schema = self.schema if schema is None else schema
        key = tuple((field, id(rules)) for field, rules in schema.items())
        if key not in self.checked:
            super().validate(schema)
            self.checked[key] = list(schema.values())


def set_schema_checked_once(validator: Validator, schema: Mapping[str, Any] | None,
                            base: type[Validator]) -> None:
    if schema is not None and not validator.is_child and not isinstance(schema, DefinitionSchema):
        schema = CheckedOnce(validator, schema)
    base.schema.fset(validator, schema)


def schema_checked_once(base: type[Validator]) -> property:
    """The `schema` property of a validator class derived from `base`."""
    return property(base.schema.fget,
                    lambda validator, schema: set_schema_checked_once(validator, schema, base),
                    doc=base.schema.__doc__)


def accept_as_is(validator: Validator, document: dict[str, Any], update: bool = False) -> None:
    validator.update = update
    validator._errors = errors.ErrorList()
    validator.recent_error = None
    validator.document_error_tree = errors.DocumentErrorTree()
    validator.schema_error_tree = errors.SchemaErrorTree()
    validator.document = copy(document)  # what Cerberus' normalisation leaves of it
