"""The legend explains every colour and shape the diagram uses."""

from __future__ import annotations

from renderers import style
from renderers.legend import legend_graph
from renderers.options import RenderOptions
from tests.renderers.conftest import Drawing, svg_of


def test_legend_shows_every_node_kind_with_the_diagram_shape() -> None:
    """Each kind of node in the style table appears with its own shape."""
    drawing = Drawing(legend_graph(RenderOptions()).source)

    for kind in style.NODE_KINDS[1:]:
        (node,) = drawing.nodes_labelled(kind.meaning)
        assert drawing.nodes[node]["shape"] == kind.shape


def test_legend_uses_the_configured_colours_and_names_each_state() -> None:
    """A colour from the options reaches the legend; states are named."""
    colours = {**RenderOptions().colors, "running": "#123456"}

    svg = svg_of(legend_graph(RenderOptions(colors=colours)).source)

    assert "#123456" in svg
    for text, _ in style.STATE_KEYS:
        assert text in svg


def test_colour_that_is_not_a_colour_never_reaches_dot() -> None:
    """Text posing as a colour falls back to the default colour."""
    colours = {**RenderOptions().colors, "running": '"]; evil [x="'}

    drawing = Drawing(legend_graph(RenderOptions(colors=colours)).source)

    assert "evil" not in drawing.nodes


def test_legend_leaves_out_hidden_shapes_and_says_what_is_not_shown() -> None:
    """With URLs and volumes hidden, their shapes go and one line names them."""
    options = RenderOptions(hidden=frozenset({"urls", "volumes"}))

    drawing = Drawing(legend_graph(options).source)
    svg = svg_of(legend_graph(options).source)

    assert not drawing.nodes_labelled("named or anonymous volume")
    assert drawing.nodes_labelled("bind mount: a host path")
    assert "reverse proxy routes URL" not in svg
    assert "container mounts volume or host path" in svg
    assert "not shown by choice: URLs, volumes" in svg
    assert "container: name, image, state, ports" in svg
    assert "ports, URLs" not in svg


def test_legend_with_nothing_hidden_shows_every_shape_and_no_hidden_line() -> None:
    """Without hide options the legend has no "not shown by choice" line."""
    svg = svg_of(legend_graph(RenderOptions()).source)

    assert "not shown by choice" not in svg
    assert "named or anonymous volume" in svg and "reverse proxy routes URL" in svg


def test_legend_explains_the_grey_dashed_route_of_a_stopped_container() -> None:
    """The not-served route has its own grey dashed sample, gone with URLs hidden."""
    grey = RenderOptions().color("stopped")

    drawing = Drawing(legend_graph(RenderOptions()).source)
    hidden = svg_of(legend_graph(RenderOptions(hidden=frozenset({"urls"}))).source)

    (edge,) = [
        e
        for _, _, e in drawing.edges
        if "route not served: container stopped" in e.get("label", "")
    ]
    assert edge["color"] == grey and edge["style"] == "dashed"
    assert "route not served" not in hidden
