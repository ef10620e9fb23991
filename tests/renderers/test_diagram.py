"""The host diagram: what is drawn, and that no name can break it."""

from __future__ import annotations

import html
import re

from bot.model import HostFailure, Network, PublishedPort
from renderers.diagram import failure_graph, host_graph
from renderers.options import RenderOptions
from tests.renderers.conftest import (
    WHEN,
    Drawing,
    attached,
    container,
    host,
    svg_of,
    svg_texts,
    traefik_route,
    volume,
)

OPTIONS = RenderOptions()
HOSTILE = [
    '"]; evil [label="x',
    "<b>bold</b>",
    "line\nbreak",
    "back\\",
    "\\N\\G\\L",
    "x" * 200,
    "</TD></TR></TABLE>>]; injected [shape=box",
]


def _container_nodes(drawing: Drawing) -> list[str]:
    return [n for n in drawing.nodes if re.fullmatch(r"h_c\d+", n)]


def test_container_on_two_networks_is_drawn_once_with_an_edge_to_each() -> None:
    """A container joining front and back appears once, linked to both."""
    app = container("shop-app", networks=attached("front", "back"))
    drawing = Drawing(
        host_graph(host("alpha", [app], ["front", "back"]), OPTIONS, "h_").source
    )

    apps = drawing.nodes_labelled("shop-app")
    fronts = drawing.nodes_labelled(">front<")
    backs = drawing.nodes_labelled(">back<")

    assert len(apps) == 1
    assert len(fronts) == 1 and len(backs) == 1
    assert len(drawing.edges_between(fronts[0], apps[0])) == 1
    assert len(drawing.edges_between(backs[0], apps[0])) == 1


def test_host_and_compose_projects_are_clusters_holding_their_containers() -> None:
    """The host is a cluster, each compose project a cluster inside it."""
    containers = [
        container("pad-app-1", compose_project="pad", networks=attached("pad_default")),
        container("pad-db-1", compose_project="pad", networks=attached("pad_default")),
        container("lonely", networks=attached("proxy")),
    ]

    drawing = Drawing(host_graph(host("alpha", containers), OPTIONS, "h_").source)

    host_cluster = drawing.clusters["cluster_h_"]
    project = [c for c in drawing.clusters if c.startswith("cluster_h_p")]
    assert len(project) == 1
    app, db, lonely = (
        drawing.nodes_labelled(n)[0] for n in ("pad-app-1", "pad-db-1", "lonely")
    )
    assert {app, db} <= drawing.clusters[project[0]]
    assert lonely not in drawing.clusters[project[0]]
    assert {app, db, lonely} <= host_cluster


def test_volumes_bind_mounts_ports_and_state_are_drawn() -> None:
    """Volumes and host paths are nodes; ports and state are in the container."""
    db = container(
        "db",
        state="exited",
        mounts=[volume("dbdata", "/var/lib/db")],
        ports=[PublishedPort(host_ip="127.0.0.1", host_port=5432, container_port=5432)],
        networks=attached("net"),
    )
    web = container(
        "web",
        health="unhealthy",
        mounts=[{"kind": "bind", "source": "/srv/www", "target": "/www"}],
        networks=attached("net"),
    )

    drawing = Drawing(host_graph(host("alpha", [db, web]), OPTIONS, "h_").source)

    db_node = drawing.nodes_labelled(">db<")[0]
    assert "127.0.0.1:5432 \u2192 5432/tcp" in drawing.nodes[db_node]["label"]
    assert "exited" in drawing.nodes[db_node]["label"]
    assert "unhealthy" in drawing.nodes[drawing.nodes_labelled(">web<")[0]]["label"]
    volume_node = drawing.nodes_labelled("dbdata")[0]
    bind_node = drawing.nodes_labelled("/srv/www")[0]
    assert drawing.nodes[volume_node]["shape"] == "cylinder"
    assert drawing.nodes[bind_node]["shape"] == "folder"
    assert drawing.edges_between(db_node, volume_node)


def test_route_goes_from_the_proxy_to_the_container_it_serves() -> None:
    """Traefik's container has an edge to the container a URL reaches."""
    proxy = container("traefik", image_ref="traefik:v2.11", networks=attached("proxy"))
    pad = container(
        "pad", networks=attached("proxy"), routes=[traefik_route("pad.example.org")]
    )

    drawing = Drawing(host_graph(host("alpha", [proxy, pad]), OPTIONS, "h_").source)

    proxy_node = drawing.nodes_labelled(">traefik<")[0]
    pad_node = drawing.nodes_labelled(">pad<")[0]
    routes = [e for t, h, e in drawing.edges if (t, h) == (proxy_node, pad_node)]
    assert len(routes) == 1
    assert "https://pad.example.org" in drawing.nodes[pad_node]["label"]


def test_network_modes_host_none_and_container_are_shown() -> None:
    """Host mode links to the host's stack, none says so, container: links."""
    vpn = container("vpn", networks=attached("net"))
    exporter = container("exporter", network_mode="host")
    worker = container("worker", network_mode="none")
    sidecar = container("sidecar", network_mode="container:vpn")

    drawing = Drawing(
        host_graph(
            host("alpha", [vpn, exporter, worker, sidecar]), OPTIONS, "h_"
        ).source
    )

    stack = drawing.nodes_labelled("host network stack")[0]
    assert drawing.edges_between(stack, drawing.nodes_labelled(">exporter<")[0])
    assert "no network" in drawing.nodes[drawing.nodes_labelled(">worker<")[0]]["label"]
    sidecar_node = drawing.nodes_labelled(">sidecar<")[0]
    vpn_node = drawing.nodes_labelled(">vpn<")[0]
    assert drawing.edges_between(sidecar_node, vpn_node)


def test_hostile_names_cannot_break_dot_and_are_escaped_in_svg() -> None:
    """Quotes, markup, newlines, backslashes and long names stay plain text."""
    containers = [
        container(
            name,
            image_ref=name,
            compose_project=name,
            networks=attached(name),
            mounts=[volume(name, "/data")],
            routes=[traefik_route(name)],
        )
        for name in HOSTILE
    ]
    source = host_graph(
        host(HOSTILE[0], containers, notes=HOSTILE), OPTIONS, "h_"
    ).source

    drawing = Drawing(source)
    svg = svg_of(source)

    assert len(_container_nodes(drawing)) == len(HOSTILE)
    assert not {"evil", "injected"} & set(drawing.nodes)
    assert "<b>bold" not in svg and "&lt;b&gt;bold" in svg
    assert "x" * 200 in svg  # complete in the tooltip
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert all(len(text) < 100 for text in texts)  # shortened in the picture
    assert not any("h_" in text for text in texts)  # no \\N or \\G expanded
    assert "\\N\\G\\L" in svg
    assert "<script" not in svg and "href" not in svg


def test_failed_host_is_marked_with_the_reason() -> None:
    """A host that could not be collected shows NOT COLLECTED and why."""
    failure = HostFailure(
        host="media",
        kind="certificate-expired",
        reason="its server certificate expired on 3 March",
        failed_at=WHEN,
    )

    drawing = Drawing(failure_graph(failure, OPTIONS, "h_").source)

    (node,) = drawing.nodes.values()
    assert "NOT COLLECTED" in node["label"]
    assert "expired on 3 March" in node["label"]


def test_host_notes_are_shown_in_a_note() -> None:
    """Notes from the collector appear in the host's picture."""
    notes = ["Routes from the file provider are not read"]

    drawing = Drawing(
        host_graph(host("alpha", [container("a1")], notes=notes), OPTIONS, "h_").source
    )

    (note,) = drawing.nodes_labelled("file provider")
    assert drawing.nodes[note]["shape"] == "note"


def test_many_lone_containers_reach_their_network_through_a_dot_per_row() -> None:
    """Lone containers on one network hang from a dot per row, all still linked."""
    lone = [container(f"c{i:03d}", networks=attached("net")) for i in range(60)]

    drawing = Drawing(
        host_graph(host("alpha", lone, networks=["net"]), OPTIONS, "h_").source
    )

    net = drawing.nodes_labelled(">net<")[0]
    dots = [n for n, o in drawing.nodes.items() if o.get("shape") == "point"]
    assert dots, "60 containers should need more than one row"
    assert {h for t, h, _ in drawing.edges if t == net} <= set(
        _container_nodes(drawing)
    ) | set(dots)
    assert len([e for t, _, e in drawing.edges if t == net]) < 30
    linked = {h for t, h, _ in drawing.edges if t in {net, *dots}}
    assert set(_container_nodes(drawing)) <= linked
    assert all(drawing.edges_between(net, d) for d in dots)


def test_port_on_every_ipv4_and_ipv6_address_is_shown_once() -> None:
    """Two entries that read the same (0.0.0.0 and ::) give one port line."""
    ports = [
        PublishedPort(host_ip="", host_port=443, container_port=443),
        PublishedPort(host_ip="::", host_port=443, container_port=443),
        PublishedPort(host_ip="0.0.0.0", host_port=443, container_port=443),
        PublishedPort(host_ip="127.0.0.1", host_port=443, container_port=443),
    ]
    proxy = container("traefik", ports=ports, networks=attached("proxy"))

    texts = svg_texts(host_graph(host("alpha", [proxy]), OPTIONS, "h_").source)

    assert texts.count("*:443 \u2192 443/tcp") == 1
    assert texts.count("127.0.0.1:443 \u2192 443/tcp") == 1


def test_host_mode_container_is_linked_once_to_the_host_network_stack() -> None:
    """The engine's "host" attachment adds no second link nor a "host" node."""
    exporter = container(
        "exporter",
        compose_project="monitoring",
        network_mode="host",
        networks=attached("host"),
    )
    inventory = host("alpha", [exporter]).model_copy(
        update={"networks": [Network(id="id-host", name="host", driver="host")]}
    )

    drawing = Drawing(host_graph(inventory, OPTIONS, "h_").source)

    node = drawing.nodes_labelled(">exporter<")[0]
    (stack,) = drawing.nodes_labelled("host network stack")
    linked = [t if h == node else h for t, h, _ in drawing.edges if node in (t, h)]
    assert linked == [stack]
    assert not drawing.nodes_labelled(">host<")


def test_name_and_url_of_20000_characters_still_give_a_drawn_picture() -> None:
    """Graphviz's 16,384-byte string limit is never reached: the host is drawn."""
    name = "n" * 20_000
    url = "https://" + "u" * 20_000 + ".example.org"
    app = container(
        name,
        networks=attached("net"),
        mounts=[volume(name, "/data")],
        routes=[traefik_route(url)],
    )
    proxy = container("traefik", image_ref="traefik:v2.11", networks=attached("net"))

    source = host_graph(host("alpha", [proxy, app], ["net"]), OPTIONS, "h_").source
    svg = svg_of(source)

    assert "PICTURE NOT DRAWN" not in svg
    assert re.search(r"<text[^>]*>n+\u2026n+</text>", svg)  # shortened name
    assert "n" * 1_900 + "\u2026" in svg  # tooltip cut with an ellipsis
    assert "n" * 2_000 not in svg and "u" * 2_000 not in svg


def test_route_to_a_stopped_container_is_drawn_as_not_served() -> None:
    """Exited: grey dashed route edge, struck grey URL and a "not served" line."""
    proxy = container("traefik", image_ref="traefik:v2.11", networks=attached("net"))
    pad = container(
        "pad",
        state="exited",
        status="Exited (0) 2 hours ago",
        networks=attached("net"),
        routes=[traefik_route("pad.example.org")],
    )
    stopped = OPTIONS.color("stopped")

    source = host_graph(host("alpha", [proxy, pad]), OPTIONS, "h_").source
    drawing = Drawing(source)
    svg = svg_of(source)

    proxy_node = drawing.nodes_labelled(">traefik<")[0]
    pad_node = drawing.nodes_labelled(">pad<")[0]
    (route,) = [e for t, h, e in drawing.edges if (t, h) == (proxy_node, pad_node)]
    assert route["color"] == stopped and route["style"] == "dashed"
    assert "not served: container stopped" in route["tooltip"]
    assert "not served: container stopped" in svg_texts(source)
    struck = re.search(r'<text[^>]*line-through[^>]*fill="([^"]+)"[^>]*>([^<]*)<', svg)
    assert struck and struck.groups() == (stopped, "https://pad.example.org")
    assert OPTIONS.color("route") not in drawing.nodes[pad_node]["label"]


def test_route_to_a_running_container_stays_purple_and_served() -> None:
    """A running container's route is the solid purple edge, its URL purple."""
    proxy = container("traefik", image_ref="traefik:v2.11", networks=attached("net"))
    pad = container(
        "pad", networks=attached("net"), routes=[traefik_route("pad.example.org")]
    )

    source = host_graph(host("alpha", [proxy, pad]), OPTIONS, "h_").source
    drawing = Drawing(source)

    proxy_node = drawing.nodes_labelled(">traefik<")[0]
    pad_node = drawing.nodes_labelled(">pad<")[0]
    (route,) = [e for t, h, e in drawing.edges if (t, h) == (proxy_node, pad_node)]
    assert route["color"] == OPTIONS.color("route")
    assert route.get("style", "solid") == "solid"
    assert "not served" not in svg_of(source)


def test_exit_code_is_shown_in_the_state_line() -> None:
    """Exit 1 reads "exited (1)", exit 0 "exited (0)": a failure stands out."""
    failed = container("failed", state="exited", status="Exited (1) 3 minutes ago")
    done = container("done", state="exited", status="Exited (0) 2 days ago")
    fresh = container("fresh", state="created", status="Created")
    inventory = host("alpha", [failed, done, fresh])

    texts = svg_texts(host_graph(inventory, OPTIONS, "h_").source)

    assert "\u25cf exited (1)" in texts
    assert "\u25cf exited (0)" in texts
    assert "\u25cf created" in texts


def test_bidirectional_controls_are_made_visible_not_obeyed() -> None:
    """An RTL override in a name is replaced by a visible mark everywhere."""
    controls = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
    name = "\u202eevil-override"
    app = container(
        name,
        image_ref=controls + "img",
        networks=attached("net\u2067"),
        routes=[traefik_route("pad\u202e.example.org")],
    )

    source = host_graph(host("alpha", [app], notes=[controls]), OPTIONS, "h_").source
    svg = svg_of(source)

    assert not set(controls) & set(source)
    assert not set(controls) & set(svg)
    assert "\ufffdevil-override" in svg_texts(source)
    assert "container \ufffdevil-override" in html.unescape(svg)  # tooltip


def test_junction_dots_and_network_lines_name_their_network() -> None:
    """Each dot is labelled with its network; each line's tooltip names it."""
    lone = [
        container(f"c{i:03d}", networks=attached("front" if i % 2 else "back"))
        for i in range(60)
    ]

    source = host_graph(host("alpha", lone, ["front", "back"]), OPTIONS, "h_").source
    drawing = Drawing(source)

    dots = [o for o in drawing.nodes.values() if o.get("shape") == "point"]
    named = {">front<": 0, ">back<": 0}
    for dot in dots:
        (network,) = [n for n in named if n in dot["xlabel"]]
        assert dot["tooltip"] == f"network {network[1:-1]}"
        named[network] += 1
    assert all(named.values()), "both networks need dots of their own"
    net_lines = [e for _, _, e in drawing.edges if e.get("dir") == "none"]
    assert net_lines and all(
        e["tooltip"] in ("network front", "network back") for e in net_lines
    )
    texts = svg_texts(source)
    assert texts.count("front") == 1 + named[">front<"]  # the hexagon and dots
