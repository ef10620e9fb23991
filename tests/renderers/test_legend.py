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
