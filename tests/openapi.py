"""Check a response against the OpenAPI schema the product serves (OpenAPI 3.0: ``nullable``, ``$ref``)."""

from functools import cache

from openapi_schema_validator import OAS30ReadValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4


@cache
def spec() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def response_errors(response, path: str, method: str) -> list[str]:
    """Why ``response`` (a test client's) doesn't match what ``method path`` declares for its status."""
    document = spec()
    declared = document["paths"][path][method.lower()]["responses"]
    if str(response.status_code) not in declared:
        return [f"status {response.status_code} not declared ({', '.join(declared)})"]
    content = declared[str(response.status_code)].get("content", {}).get("application/json")
    if content is None:
        return []
    registry = Registry().with_resource("urn:spec", Resource.from_contents(document, default_specification=DRAFT4))
    schema = {
        "$ref": "urn:spec#/"
        + "/".join(
            [
                "paths",
                path.replace("/", "~1"),
                method.lower(),
                "responses",
                str(response.status_code),
                "content",
                "application~1json",
                "schema",
            ]
        )
    }
    validator = OAS30ReadValidator(schema, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(response.json())]
