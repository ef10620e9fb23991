"""Container labels -> Traefik routes (v1 and v2/v3); pure, no I/O.

Only the labels that describe routing are read (``routing_labels``); other
Traefik labels may hold secrets, such as basic-auth hashes, and are never kept.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from bot.model import Route

log = logging.getLogger(__name__)

_V2_ROUTER = re.compile(
    r"^traefik\.(?P<proto>http|tcp|udp)\.routers\.(?P<router>[^.]+)\."
    r"(?P<key>rule|service|entrypoints|tls(?:\..+)?)$",
    re.IGNORECASE,
)
_V2_SERVICE_PORT = re.compile(
    r"^traefik\.(?P<proto>http|tcp|udp)\.services\.(?P<service>[^.]+)"
    r"\.loadbalancer\.server\.port$",
    re.IGNORECASE,
)
_V1_KEY = re.compile(
    r"^traefik\.(?:(?P<segment>[^.]+)\.)?"
    r"(?P<key>frontend\.rule|frontend\.entrypoints|port)$",
    re.IGNORECASE,
)
_V2_PROTOCOLS = ("http", "tcp", "udp")
# v2 keys that are not v1 segments, though they have the same shape.
_NOT_V1_SEGMENTS = {"http", "tcp", "udp", "docker", "backend", "frontend"}
# Entry point names are chosen by whoever configures Traefik, so https is a
# guess from the name: "websecure", "https", "443" and any name holding
# "secure" (not "insecure"), "https", "tls", "ssl" or "443" count as TLS.
_TLS_ENTRYPOINT = re.compile(r"https|tls|ssl|443|(?<!in)secure", re.IGNORECASE)


def routing_labels(labels: dict[str, str] | None) -> dict[str, str]:
    """Keep only the labels that say how Traefik routes to a container."""
    kept: dict[str, str] = {}
    for key, value in (labels or {}).items():
        if key.lower() == "traefik.enable" or _is_routing_key(key):
            kept[key] = value
    return kept


def _is_routing_key(key: str) -> bool:
    if _V2_SERVICE_PORT.match(key):
        return True
    router = _V2_ROUTER.match(key)
    if router is not None:
        # tls.* keys only tell that TLS is on; their values (resolver names,
        # domains) are kept, options such as client-auth files are not.
        sub = router["key"].lower()
        return sub in {"rule", "service", "entrypoints", "tls", "tls.certresolver"}
    v1 = _V1_KEY.match(key)
    return v1 is not None and (v1["segment"] or "").lower() not in _NOT_V1_SEGMENTS


def parse_routes(labels: dict[str, str], *, exposed_ports: list[int]) -> list[Route]:
    """Read every Traefik router labelled on a container, v1 and v2/v3 alike."""
    labels = routing_labels(labels)
    if labels.get("traefik.enable", "").strip().lower() == "false":
        return []
    default_port = _single_port(exposed_ports)
    routes = _v2_routes(labels, default_port) + _v1_routes(labels, default_port)
    for route in routes:
        log.debug("route %s: %s -> %s", route.router, route.urls, route.backend_port)
    return routes


def _single_port(ports: list[int]) -> int | None:
    distinct = sorted(set(ports))
    return distinct[0] if len(distinct) == 1 else None


def _port(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# Traefik v2 and v3 ------------------------------------------------------------


@dataclass
class _Router:
    proto: str
    name: str
    values: dict[str, str] = field(default_factory=dict)

    @property
    def entrypoints(self) -> list[str]:
        raw = self.values.get("entrypoints", "")
        return [e.strip() for e in raw.split(",") if e.strip()]

    @property
    def has_tls(self) -> bool:
        explicit = self.values.get("tls", "").strip().lower()
        if explicit == "false":
            return False
        if explicit == "true" or any(k.startswith("tls.") for k in self.values):
            return True
        return _has_tls_entrypoint(self.entrypoints)


def _v2_routes(labels: dict[str, str], default_port: int | None) -> list[Route]:
    routers: dict[tuple[str, str], _Router] = {}
    ports_by_service: dict[tuple[str, str], int | None] = {}
    for key, value in labels.items():
        if match := _V2_ROUTER.match(key):
            proto, name = match["proto"].lower(), match["router"]
            router = routers.setdefault((proto, name), _Router(proto, name))
            router.values[match["key"].lower()] = value
        elif match := _V2_SERVICE_PORT.match(key):
            ports_by_service[(match["proto"].lower(), match["service"])] = _port(value)
    return [
        _v2_route(router, ports_by_service, default_port)
        for _, router in sorted(routers.items())
    ]


def _v2_route(
    router: _Router,
    ports_by_service: dict[tuple[str, str], int | None],
    default_port: int | None,
) -> Route:
    port, binding_problem = _v2_backend_port(router, ports_by_service, default_port)
    route = Route(
        router=router.name,
        provider="traefik-v2",
        protocol=router.proto,  # type: ignore[arg-type]
        rule=router.values.get("rule", ""),
        backend_port=port,
        entrypoints=router.entrypoints,
        problem=binding_problem,
    )
    if router.proto == "udp":
        return route  # UDP routers have no rule: they take all of an entry point.
    if not route.rule:
        return route.model_copy(update={
            "is_parsed": False,
            "problem": f'Router "{router.name}" has no rule label; Traefik then uses '
            "its default rule, which graphbot cannot see, so no URL is shown.",
        })
    try:
        parsed = _RuleParser(route.rule).parse()
    except _RuleError as exc:
        return _unparsed(route, str(exc))
    return _with_urls(route, parsed, _scheme(router))


def _v2_backend_port(
    router: _Router,
    ports_by_service: dict[tuple[str, str], int | None],
    default_port: int | None,
) -> tuple[int | None, str]:
    mine = {name: port for (proto, name), port in ports_by_service.items()
            if proto == router.proto}
    service = router.values.get("service", "").strip()
    if service:
        name, _, provider = service.partition("@")
        if provider and provider.lower() != "docker":
            return None, ""  # e.g. api@internal: served by Traefik itself.
        return (mine.get(name) or default_port), ""
    if len(mine) == 1:
        return (next(iter(mine.values())) or default_port), ""
    if not mine:
        return default_port, ""
    return None, (
        f'Router "{router.name}" names no service and the container defines '
        f"{len(mine)}, so its backend port is unknown; add a .service label."
    )


def _scheme(router: _Router) -> str:
    # The rule, in order: a tls label says it (tls=true or any tls.* option
    # gives https, tls=false gives http); else an entry point whose name reads
    # as TLS (_TLS_ENTRYPOINT) gives https; else http, also for a router with
    # no entrypoints label, which Traefik puts on every entry point. TLS set on
    # an entry point in Traefik's static configuration cannot be seen from
    # labels, so a router on an oddly named TLS entry point is shown as http.
    if router.proto == "tcp":
        return "tcp"
    return "https" if router.has_tls else "http"


def _has_tls_entrypoint(entrypoints: list[str]) -> bool:
    return any(_TLS_ENTRYPOINT.search(name) for name in entrypoints)


# Traefik v1 -------------------------------------------------------------------


def _v1_routes(labels: dict[str, str], default_port: int | None) -> list[Route]:
    by_segment: dict[str, dict[str, str]] = {}
    for key, value in labels.items():
        match = _V1_KEY.match(key)
        if match and (match["segment"] or "").lower() not in _NOT_V1_SEGMENTS:
            found = by_segment.setdefault(match["segment"] or "", {})
            found[match["key"].lower()] = value
    base_port = _port(by_segment.get("", {}).get("port")) or default_port
    routes = []
    for segment, values in sorted(by_segment.items()):
        # Without a frontend rule Traefik v1 routes by its default domain,
        # which is set on Traefik itself, so such a segment is not shown.
        if "frontend.rule" not in values:
            continue
        routes.append(_v1_route(segment or "frontend", values, base_port))
    return routes


def _v1_route(name: str, values: dict[str, str], base_port: int | None) -> Route:
    entrypoints = [e.strip() for e in values.get("frontend.entrypoints", "").split(",")
                   if e.strip()]
    route = Route(
        router=name,
        provider="traefik-v1",
        rule=values["frontend.rule"],
        backend_port=_port(values.get("port")) or base_port,
        entrypoints=entrypoints,
    )
    try:
        parsed = _parse_v1_rule(route.rule)
    except _RuleError as exc:
        return _unparsed(route, str(exc))
    # v1 has no tls label on the frontend: only the entry point name tells.
    scheme = "https" if _has_tls_entrypoint(entrypoints) else "http"
    return _with_urls(route, parsed, scheme)


def _parse_v1_rule(rule: str) -> _ParsedRule:
    parsed = _ParsedRule([_Match()])
    for part in (p.strip() for p in rule.split(";")):
        if not part:
            continue
        matcher, sep, raw_values = part.partition(":")
        values = [v.strip() for v in raw_values.split(",") if v.strip()]
        if not sep or not matcher.strip().isalpha() or not values:
            raise _RuleError(f'"{part}" is not of the form Matcher:value')
        matches = _matcher(matcher.strip(), values, part, parsed)
        parsed.alternatives = _and(parsed.alternatives, matches)
    return parsed


# Rules: shared by both versions -----------------------------------------------


class _RuleError(ValueError):
    """A rule that does not follow Traefik's grammar."""


@dataclass(frozen=True)
class _Match:
    """One way a rule can match: a host pattern and a path prefix, if any."""

    host: str | None = None
    path: str | None = None


@dataclass
class _ParsedRule:
    """The ways a rule can match, and what of it the URLs cannot show."""

    alternatives: list[_Match]
    conditions: list[str] = field(default_factory=list)  # as written in the rule
    host_patterns: list[str] = field(default_factory=list)  # shown as "*"

    def describe_gaps(self) -> str:
        """What the URLs leave out, as clauses of a sentence, or ""."""
        conditions = list(dict.fromkeys(self.conditions))
        patterns = list(dict.fromkeys(self.host_patterns))
        clauses = []
        if conditions:
            noun = "condition" if len(conditions) == 1 else "conditions"
            clauses.append(f"its URLs leave out the {noun} {_and_list(conditions)}")
        if len(patterns) == 1:
            clauses.append(f'its host pattern {patterns[0]} is shown as "*"')
        elif patterns:
            clauses.append(f'its host patterns {_and_list(patterns)} are shown as "*"')
        return "; ".join(clauses)


def _and_list(items: list[str]) -> str:
    return " and ".join([", ".join(items[:-1]), items[-1]] if items[1:] else items)


_HOST_MATCHERS = {"host", "hostheader", "hostsni"}
_HOST_PATTERN_MATCHERS = {"hostregexp", "hostsniregexp"}
_PATH_MATCHERS = {"path", "pathprefix", "pathstrip", "pathprefixstrip"}
# v1 modifiers rewrite the request; they do not narrow which requests match.
_V1_MODIFIERS = {"addprefix", "replacepath", "replacepathregex"}
# What a host pattern may still hold, once made readable, to be shown in a URL.
_READABLE_HOST = re.compile(r"[A-Za-z0-9*.:_-]+")


def _matcher(
    name: str, args: list[str], text: str, parsed: _ParsedRule
) -> list[_Match]:
    kind = name.lower()
    if kind in _HOST_MATCHERS:
        return [_Match(host=a) for a in args]
    if kind in _HOST_PATTERN_MATCHERS:
        return [_host_pattern(a, parsed) for a in args]
    if kind in _PATH_MATCHERS:
        return [_Match(path=a) for a in args]
    if kind not in _V1_MODIFIERS:
        # Headers, Method, Query, ClientIP, PathRegexp...: they narrow the
        # requests served, which a URL cannot say.
        parsed.conditions.append(text)
    return [_Match()]


def _host_pattern(pattern: str, parsed: _ParsedRule) -> _Match:
    readable = _readable_pattern(pattern)
    if _READABLE_HOST.fullmatch(readable):
        return _Match(host=readable)
    parsed.host_patterns.append(f"`{pattern}`")
    return _Match(host="*")


def _readable_pattern(pattern: str) -> str:
    """Turn a host regular expression into a wildcard a person can read."""
    text = re.sub(r"\{[^{}:]+:[^{}]*\}|\{[^{}]+\}", "*", pattern)  # v2 {name:re}
    text = text.strip("^$").replace(r"\.", ".")
    return re.sub(r"(\[[^\]]*\]|\([^)]*\)|\.)[+*?]", "*", text)


def _and(left: list[_Match], right: list[_Match]) -> list[_Match]:
    return [
        _Match(host=b.host or a.host, path=b.path or a.path)
        for a in left for b in right
    ]


def _with_urls(route: Route, parsed: _ParsedRule, scheme: str) -> Route:
    problems = [route.problem] if route.problem else []
    gaps = parsed.describe_gaps()
    if gaps:
        log.debug("router %s: %s", route.router, gaps)
        problems.append(f'Router "{route.router}": {gaps}.')
    return route.model_copy(update={
        "urls": _urls(parsed.alternatives, scheme),
        "problem": " ".join(problems),
    })


def _urls(alternatives: list[_Match], scheme: str) -> list[str]:
    urls: list[str] = []
    for match in alternatives:
        # A branch that names no host (a bare PathPrefix, a negation, Method)
        # matches every host name Traefik is asked for; "*" stands for it, as
        # for a HostRegexp, so "http://*/jellyfin" rather than no URL at all.
        url = f"{scheme}://{match.host or '*'}{match.path or ''}"
        if url not in urls:
            urls.append(url)
    return urls


def _unparsed(route: Route, why: str) -> Route:
    log.warning("router %s: rule not understood (%s)", route.router, why)
    return route.model_copy(update={
        "is_parsed": False,
        "problem": f'The rule of router "{route.router}" could not be read ({why}); '
        "its URLs are not shown. Check the label's syntax.",
    })


_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||!|\(|\)|,)|(?P<name>[A-Za-z][A-Za-z0-9]*)"
    r"|`(?P<bq>[^`]*)`|\"(?P<dq>(?:[^\"\\]|\\.)*)\")"
)


class _RuleParser:
    """Recursive descent over a v2/v3 rule: ``||``, ``&&``, ``!``, parentheses."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.tokens: list[tuple[str, str]] = []
        self.spans: list[tuple[int, int]] = []  # where each token is in the rule
        self._tokenize()
        self.position = 0
        self.found = _ParsedRule([])  # collects conditions and host patterns

    def _tokenize(self) -> None:
        position = 0
        while position < len(self.rule.rstrip()):
            match = _TOKEN.match(self.rule, position)
            if not match:
                raise _RuleError(f"unexpected text at character {position + 1}")
            kind = match.lastgroup or ""
            self.tokens.append(("str" if kind in {"bq", "dq"} else kind, match[kind]))
            self.spans.append((match.start(kind), match.end()))
            position = match.end()

    def parse(self) -> _ParsedRule:
        result = self._or()
        if self.position != len(self.tokens):
            raise _RuleError(f'unexpected "{self.tokens[self.position][1]}"')
        self.found.alternatives = result
        return self.found

    def _text_since(self, first: int) -> str:
        """The rule's own text from token ``first`` to the last token taken."""
        return self.rule[self.spans[first][0]:self.spans[self.position - 1][1]]

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str, value: str | None = None) -> str:
        token = self._peek()
        if token is None or token[0] != kind or (value and token[1] != value):
            found = f'"{token[1]}"' if token else "the end of the rule"
            raise _RuleError(f"expected {value or kind}, found {found}")
        self.position += 1
        return token[1]

    def _or(self) -> list[_Match]:
        result = self._and()
        while self._peek() == ("op", "||"):
            self.position += 1
            result = result + self._and()
        return result

    def _and(self) -> list[_Match]:
        result = self._factor()
        while self._peek() == ("op", "&&"):
            self.position += 1
            result = _and(result, self._factor())
        return result

    def _factor(self) -> list[_Match]:
        first = self.position
        if self._peek() == ("op", "!"):
            self.position += 1
            found_before = len(self.found.conditions), len(self.found.host_patterns)
            self._factor()
            # A negation narrows the requests served, which a URL cannot say;
            # it is named once, whole, not by the matchers inside it.
            del self.found.conditions[found_before[0]:]
            del self.found.host_patterns[found_before[1]:]
            self.found.conditions.append(self._text_since(first))
            return [_Match()]
        if self._peek() == ("op", "("):
            self.position += 1
            inner = self._or()
            self._take("op", ")")
            return inner
        name = self._take("name")
        self._take("op", "(")
        args = [self._take("str")]
        while self._peek() == ("op", ","):
            self.position += 1
            args.append(self._take("str"))
        self._take("op", ")")
        return _matcher(name, args, self._text_since(first), self.found)
