"""Traefik labels to routes: plain labels in, routes out."""

from __future__ import annotations

from bot.traefik import parse_routes, routing_labels


def _v2(rule: str, **extra: str) -> dict[str, str]:
    labels = {"traefik.http.routers.web.rule": rule}
    labels.update({f"traefik.http.routers.web.{k}": v for k, v in extra.items()})
    return labels


def test_v2_router_with_two_hosts_yields_two_urls():
    [route] = parse_routes(_v2("Host(`a.example.org`) || Host(`b.example.org`)"),
                           exposed_ports=[80])

    assert route.urls == ["http://a.example.org", "http://b.example.org"]
    assert route.backend_port == 80


def test_v2_host_with_several_arguments_yields_one_url_each():
    [route] = parse_routes(_v2('Host(`a.example.org`, "b.example.org")'),
                           exposed_ports=[])

    assert route.urls == ["http://a.example.org", "http://b.example.org"]


def test_path_prefix_is_appended_to_each_host():
    rule = "(Host(`a.example.org`) || Host(`b.example.org`)) && PathPrefix(`/pad`)"

    [route] = parse_routes(_v2(rule), exposed_ports=[])

    assert route.urls == ["http://a.example.org/pad", "http://b.example.org/pad"]


def test_tls_or_websecure_entrypoint_gives_https():
    tls = parse_routes(_v2("Host(`a.example.org`)", tls="true"), exposed_ports=[])
    secure = parse_routes(_v2("Host(`a.example.org`)", entrypoints="web,websecure"),
                          exposed_ports=[])

    assert tls[0].urls == ["https://a.example.org"]
    assert secure[0].urls == ["https://a.example.org"]
    assert secure[0].entrypoints == ["web", "websecure"]


def test_websecure_entrypoint_alone_gives_https_without_tls_label():
    [route] = parse_routes(_v2("Host(`a.example.org`)", entrypoints="websecure"),
                           exposed_ports=[])

    assert route.urls == ["https://a.example.org"]


def test_router_without_entrypoints_or_tls_gives_http():
    [route] = parse_routes(_v2("Host(`a.example.org`)"), exposed_ports=[])

    assert route.urls == ["http://a.example.org"]


def test_entrypoint_names_that_read_as_tls_give_https_and_others_http():
    def scheme(entrypoints: str) -> str:
        [route] = parse_routes(_v2("Host(`a.example.org`)", entrypoints=entrypoints),
                               exposed_ports=[])
        return route.urls[0].split(":")[0]

    assert [scheme(n) for n in ("https", "443", "web-secure", "tls", "port443")] == [
        "https"] * 5
    assert [scheme(n) for n in ("web", "insecure", "public", "80")] == ["http"] * 4


def test_tls_false_label_wins_over_a_secure_entrypoint_name():
    [route] = parse_routes(
        _v2("Host(`a.example.org`)", entrypoints="websecure", tls="false"),
        exposed_ports=[],
    )

    assert route.urls == ["http://a.example.org"]


def test_host_regexp_is_shown_as_a_wildcard():
    v2 = parse_routes(_v2("HostRegexp(`{sub:[a-z]+}.example.org`)"), exposed_ports=[])
    v3 = parse_routes(_v2(r"HostRegexp(`^.+\.example\.org$`)"), exposed_ports=[])

    assert v2[0].urls == ["http://*.example.org"]
    assert v3[0].urls == ["http://*.example.org"]
    assert v2[0].problem == v3[0].problem == ""


def test_router_is_bound_to_its_named_service_port():
    labels = _v2("Host(`a.example.org`)", service="api") | {
        "traefik.http.services.api.loadbalancer.server.port": "8080",
        "traefik.http.services.ui.loadbalancer.server.port": "3000",
    }

    [route] = parse_routes(labels, exposed_ports=[8080, 3000])

    assert route.backend_port == 8080


def test_only_service_is_used_when_router_names_none():
    labels = _v2("Host(`a.example.org`)") | {
        "traefik.http.services.app.loadbalancer.server.port": "9001"}

    [route] = parse_routes(labels, exposed_ports=[80, 443])

    assert route.backend_port == 9001


def test_two_services_and_no_binding_leave_port_unknown_with_a_problem():
    labels = _v2("Host(`a.example.org`)") | {
        "traefik.http.services.api.loadbalancer.server.port": "8080",
        "traefik.http.services.ui.loadbalancer.server.port": "3000",
    }

    [route] = parse_routes(labels, exposed_ports=[])

    assert route.backend_port is None
    assert ".service" in route.problem


def test_no_port_label_and_several_exposed_ports_leaves_port_unknown():
    [route] = parse_routes(_v2("Host(`a.example.org`)"), exposed_ports=[80, 443])

    assert route.backend_port is None


def test_container_with_several_routers_yields_each():
    labels = {
        "traefik.http.routers.site.rule": "Host(`www.example.org`)",
        "traefik.http.routers.admin.rule": "Host(`admin.example.org`)",
        "traefik.tcp.routers.db.rule": "HostSNI(`db.example.org`)",
    }

    routes = parse_routes(labels, exposed_ports=[80])

    assert {(r.router, r.protocol) for r in routes} == {
        ("site", "http"), ("admin", "http"), ("db", "tcp")}
    assert next(r for r in routes if r.router == "db").urls == ["tcp://db.example.org"]


def test_v1_rule_with_hosts_and_path_prefix():
    labels = {"traefik.frontend.rule": "Host:a.example.org,b.example.org;PathPrefix:/x",
              "traefik.port": "8000"}

    [route] = parse_routes(labels, exposed_ports=[])

    assert route.provider == "traefik-v1"
    assert route.urls == ["http://a.example.org/x", "http://b.example.org/x"]
    assert route.backend_port == 8000


def test_v1_segments_each_give_a_route_with_their_own_port():
    labels = {
        "traefik.web.frontend.rule": "Host:www.example.org",
        "traefik.web.port": "80",
        "traefik.api.frontend.rule": "Host:api.example.org",
        "traefik.api.port": "8080",
        "traefik.api.frontend.entryPoints": "https",
    }

    routes = {r.router: r for r in parse_routes(labels, exposed_ports=[])}

    assert routes["web"].urls == ["http://www.example.org"]
    assert routes["web"].backend_port == 80
    assert routes["api"].urls == ["https://api.example.org"]
    assert routes["api"].backend_port == 8080


def test_traefik_enable_false_gives_no_route():
    labels = _v2("Host(`a.example.org`)") | {"traefik.enable": "false"}

    assert parse_routes(labels, exposed_ports=[80]) == []


def test_unreadable_rule_is_kept_and_marked():
    [v2] = parse_routes(_v2("Host(`a.example.org`"), exposed_ports=[80])
    [v1] = parse_routes({"traefik.frontend.rule": "just-a-name"}, exposed_ports=[80])

    assert not v2.is_parsed and v2.rule == "Host(`a.example.org`"
    assert "web" in v2.problem and v2.urls == []
    assert not v1.is_parsed and v1.problem


def test_router_without_rule_is_marked_not_dropped():
    labels = {"traefik.http.routers.bare.entrypoints": "web"}

    [route] = parse_routes(labels, exposed_ports=[80])

    assert not route.is_parsed and "default rule" in route.problem


def test_negated_and_other_matchers_do_not_invent_urls_and_are_named():
    rule = "Host(`a.example.org`) && !PathPrefix(`/admin`) && Method(`GET`)"

    [route] = parse_routes(_v2(rule), exposed_ports=[])

    assert route.urls == ["http://a.example.org"]
    assert route.is_parsed
    assert route.problem == (
        'Router "web": its URLs leave out the conditions !PathPrefix(`/admin`) '
        "and Method(`GET`)."
    )


def test_branch_without_host_is_kept_as_any_host_url():
    """A PathPrefix alternative matches every host name, shown as "*"."""
    rule = ("Host(`media.example.org`) || Host(`tv.example.org`) "
            "|| PathPrefix(`/jellyfin`)")

    [route] = parse_routes(_v2(rule, entrypoints="websecure"), exposed_ports=[])

    assert route.urls == [
        "https://media.example.org",
        "https://tv.example.org",
        "https://*/jellyfin",
    ]
    assert route.problem == ""


def test_rule_with_only_a_path_prefix_yields_an_any_host_url():
    [v2] = parse_routes(_v2("PathPrefix(`/api`)"), exposed_ports=[])
    [v1] = parse_routes({"traefik.frontend.rule": "PathPrefix:/api"}, exposed_ports=[])

    assert v2.urls == ["http://*/api"]
    assert v1.urls == ["http://*/api"]


def test_negated_host_alone_yields_any_host_url_and_names_the_negation():
    rule = "!Host(`admin.example.org`) && !(Method(`POST`) || Method(`PUT`))"

    [route] = parse_routes(_v2(rule), exposed_ports=[])

    assert route.urls == ["http://*"]
    assert route.problem == (
        'Router "web": its URLs leave out the conditions !Host(`admin.example.org`) '
        "and !(Method(`POST`) || Method(`PUT`))."
    )


def test_host_pattern_that_cannot_be_read_is_shown_as_any_host_and_named():
    rule = r"HostRegexp(`^(foo|bar)\.example\.org$`) || Host(`a.example.org`)"

    [route] = parse_routes(_v2(rule), exposed_ports=[])

    assert route.urls == ["http://*", "http://a.example.org"]
    assert route.problem == (
        r'Router "web": its host pattern `^(foo|bar)\.example\.org$` is shown '
        'as "*".'
    )


def test_v1_matcher_is_named_but_v1_modifier_is_not():
    labels = {"traefik.frontend.rule": "Host:a.example.org;Method:GET;AddPrefix:/x"}

    [route] = parse_routes(labels, exposed_ports=[])

    assert route.urls == ["http://a.example.org"]
    assert route.problem == (
        'Router "frontend": its URLs leave out the condition Method:GET.'
    )


def test_rule_gaps_are_added_to_an_unknown_backend_port():
    labels = _v2("Host(`a.example.org`) && Method(`GET`)") | {
        "traefik.http.services.api.loadbalancer.server.port": "8080",
        "traefik.http.services.ui.loadbalancer.server.port": "3000",
    }

    [route] = parse_routes(labels, exposed_ports=[])

    assert ".service label" in route.problem
    assert route.problem.endswith("leave out the condition Method(`GET`).")


def test_service_on_another_provider_has_no_backend_port():
    [route] = parse_routes(_v2("Host(`t.example.org`)", service="api@internal"),
                           exposed_ports=[80])

    assert route.backend_port is None


def test_routing_labels_keep_rules_and_drop_everything_else():
    labels = {
        "traefik.http.routers.web.rule": "Host(`a.example.org`)",
        "traefik.http.routers.web.tls.certresolver": "le",
        "traefik.http.middlewares.auth.basicauth.users": "admin:$apr1$hash",
        "traefik.http.routers.web.middlewares": "auth",
        "com.docker.compose.project": "pad",
        "org.example.password": "hunter2",
    }

    kept = routing_labels(labels)

    assert kept == {
        "traefik.http.routers.web.rule": "Host(`a.example.org`)",
        "traefik.http.routers.web.tls.certresolver": "le",
    }


def test_several_gaps_are_named_in_one_sentence():
    rule = ("HostRegexp(`(a|b).example.org`, `(c|d).example.org`) "
            "|| Method(`GET`) || Query(`q=1`) || Method(`GET`)")

    [route] = parse_routes(_v2(rule), exposed_ports=[])

    assert route.urls == ["http://*"]
    assert route.problem == (
        'Router "web": its URLs leave out the conditions Method(`GET`) and '
        "Query(`q=1`); its host patterns `(a|b).example.org` and "
        '`(c|d).example.org` are shown as "*".'
    )
