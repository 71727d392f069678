"""The one place that wires the layers: scenario files, one networked trial (``cluster``),
points and sweeps over any transport (``runner``), one role as its own process
(``standalone``) and what a scenario test expects (``expectations``)."""

__all__: list[str] = []
