"""Reads template.yaml: the single source of routes, handlers, environment and tables for local work."""

from __future__ import annotations

import copy
import importlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class _CloudFormationLoader(yaml.SafeLoader):
    """PyYAML loader that turns CloudFormation short tags (!Ref, !GetAtt, !Sub...) into their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class Route:
    method: str  # "ANY" or an HTTP method
    path: str  # API Gateway form: /api/execute/{id}/status
    pattern: re.Pattern[str]
    open: bool = False  # `Auth: {Authorizer: NONE}`: API Gateway calls no authorizer (CORS preflights)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None or (self.method != "ANY" and self.method != method):
            return None
        return found.groupdict()


@dataclass
class Function:
    logical_id: str
    code_dir: Path
    handler: str  # module.function
    environment: dict[str, Any]
    routes: list[Route] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # the template's Events, as written

    def load_module(self, layer_dirs: list[Path]) -> ModuleType:
        """Import the handler's module the way Lambda does: layer code and the function's folder on sys.path."""
        for folder in [*layer_dirs, self.code_dir]:
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        return importlib.import_module(self.handler.rsplit(".", 1)[0])

    def load_handler(self, layer_dirs: list[Path]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        handler: Callable[[dict[str, Any], Any], dict[str, Any]] = getattr(
            self.load_module(layer_dirs), self.handler.rsplit(".", 1)[1]
        )
        return handler


@dataclass(frozen=True)
class Authorizer:
    function_id: str
    header: str
    validation: re.Pattern[str] | None


_parsed: dict[tuple[Path, int, int], dict[str, Any]] = {}  # (path, mtime, size) -> the document


def _document(path: Path) -> dict[str, Any]:
    """The template's document, parsed once per version of the file (PyYAML takes about half a second
    on it; a copy, 7 ms): every provisioning fixture of a test run reads it."""
    stat = path.stat()
    key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
    if key not in _parsed:
        _parsed[key] = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506
    return copy.deepcopy(_parsed[key])


class Template:
    def __init__(self, path: Path = TEMPLATE_PATH) -> None:
        self.path = path
        self.document: dict[str, Any] = _document(path)
        self.resources: dict[str, dict[str, Any]] = self.document["Resources"]
        self._functions: list[Function] | None = None

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == resource_type}

    def parameter_defaults(self) -> dict[str, str]:
        return {name: str(p.get("Default", "")) for name, p in self.document.get("Parameters", {}).items()}

    def layer_dirs(self) -> list[Path]:
        # SAM's python build copies a layer's ContentUri into python/, which is what Lambda puts on sys.path.
        return [
            self.path.parent / r["Properties"]["ContentUri"]
            for r in self.of_type("AWS::Serverless::LayerVersion").values()
        ]

    def offline_environment(self, function: Function) -> dict[str, str]:
        """The function's variables with parameters at their defaults and resources named after themselves:
        enough to import its handler (which checks its settings then) where nothing is deployed."""
        names = {**self.parameter_defaults(), **pseudo_parameters(), **{name: name for name in self.resources}}
        conditions = self.document.get("Conditions", {})
        return {
            name: resolve(value, names, _NamedAfterItself(), conditions=conditions)
            for name, value in function.environment.items()
        }

    def functions(self) -> list[Function]:
        """The template's functions, read once per Template (routes are matched on every request)."""
        if self._functions is None:
            self._functions = self._read_functions()
        return self._functions

    def _read_functions(self) -> list[Function]:
        shared = self.document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        functions = []
        for name, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource["Properties"]
            own = props.get("Environment", {}).get("Variables", {})
            routes = [
                _route(
                    event["Properties"]["Method"],
                    event["Properties"]["Path"],
                    event["Properties"].get("Auth", {}).get("Authorizer") == "NONE",
                )
                for event in props.get("Events", {}).values()
                if event["Type"] == "Api"
            ]
            functions.append(
                Function(
                    name,
                    self.path.parent / props["CodeUri"],
                    props["Handler"],
                    {**shared, **own},
                    routes,
                    dict(props.get("Events", {})),
                )
            )
        return functions

    def default_authorizer(self) -> Authorizer | None:
        """The API's default Lambda TOKEN authorizer, as API Gateway would run it."""
        for api in self.of_type("AWS::Serverless::Api").values():
            auth = api["Properties"].get("Auth", {})
            name = auth.get("DefaultAuthorizer")
            if name:
                spec = auth["Authorizers"][name]
                identity = spec.get("Identity", {})
                return Authorizer(
                    function_id=spec["FunctionArn"]["Fn::GetAtt"][0],
                    header=identity.get("Header", "Authorization"),
                    validation=re.compile(identity["ValidationExpression"])
                    if "ValidationExpression" in identity
                    else None,
                )
        return None

    def gateway_response(self, response_type: str) -> dict[str, Any]:
        for api in self.of_type("AWS::Serverless::Api").values():
            responses = api["Properties"].get("GatewayResponses", {})
            if response_type in responses:
                return dict(responses[response_type])
        raise KeyError(response_type)


def _route(method: str, path: str, open_route: bool = False) -> Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return Route(method.upper(), path, re.compile(regex), open_route)


def resolve(
    value: Any,
    names: dict[str, str],
    attributes: dict[tuple[str, str], str],
    mappings: dict[str, Any] | None = None,
    conditions: dict[str, Any] | None = None,
) -> str:
    """The value of an intrinsic as a string, for the subset the template uses in environments and
    definition substitutions (!If where the template's `conditions` are given)."""
    if isinstance(value, (str, int, float, bool)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if "Fn::If" in value and conditions is not None:
        name, then, otherwise = value["Fn::If"]
        chosen = then if evaluate({"Condition": name}, names, conditions) else otherwise
        return resolve(chosen, names, attributes, mappings, conditions)
    if "Ref" in value:
        return names[value["Ref"]]
    if "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return attributes[(resource, attribute)]
    if "Fn::Sub" in value:
        text = value["Fn::Sub"]

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if "." in name:  # ${Resource.Attribute}
                resource, attribute = name.split(".", 1)
                return attributes[(resource, attribute)]
            return names[name]

        return re.sub(r"\$\{([\w:.]+)\}", substitute, text)
    if "Fn::FindInMap" in value and mappings is not None:
        table, first, second = (resolve(part, names, attributes, mappings) for part in value["Fn::FindInMap"])
        return resolve(mappings[table][first][second], names, attributes, mappings)
    raise ValueError(f"unsupported intrinsic in template.yaml: {value}")


def evaluate(value: Any, names: dict[str, str], conditions: dict[str, Any]) -> Any:
    """A property's value as a deploy with these parameters (`names`) would set it: !If on the template's
    Conditions (!Equals, !Not, !And, !Or, !Select, !Split), !Ref; None for AWS::NoValue."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((function, arguments),) = value.items()
    if function == "Ref":
        return None if arguments == "AWS::NoValue" else names[arguments]
    if function in ("Condition", "Fn::Condition"):  # !Condition, inside !And / !Or / !Not
        return bool(evaluate(conditions[arguments], names, conditions))
    if function == "Fn::If":
        name, then, otherwise = arguments
        return evaluate(then if evaluate({"Condition": name}, names, conditions) else otherwise, names, conditions)
    parts = [evaluate(a, names, conditions) for a in arguments]
    if function == "Fn::Equals":
        return str(parts[0]) == str(parts[1])
    if function == "Fn::Not":
        return not parts[0]
    if function in ("Fn::And", "Fn::Or"):
        return (all if function == "Fn::And" else any)(parts)
    if function == "Fn::Select":
        return parts[1][int(parts[0])]
    if function == "Fn::Split":
        return str(parts[1]).split(parts[0])
    raise ValueError(f"unsupported intrinsic in template.yaml: {value}")


class _NamedAfterItself(dict[tuple[str, str], str]):
    """!GetAtt Resource.Attribute as "Resource.Attribute"."""

    def __missing__(self, key: tuple[str, str]) -> str:
        return ".".join(key)


# make run and the tests run what a deployed stack does not by default: the simulated executor for
# made-up operation names and params.simulate, and the local provider for generation operations.
LOCAL_PARAMETERS = {"SimulatedExecutor": "true", "LocalProviders": "true"}


def local_bucket_name(logical_id: str) -> str:
    """What make run names a bucket of the template (S3 wants lower case; sam-env.json names the same)."""
    return f"execution-api-local-{logical_id.lower()}"


def pseudo_parameters() -> dict[str, str]:
    return {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "execution-api-local",
    }
