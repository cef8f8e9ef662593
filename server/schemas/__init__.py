"""The wire format: every request, response, stream and room message, as
pydantic models, and nothing else. One module per area (common, graph,
sessions, frames, stream, derive, rooms); names follow the direction of
travel: `...Create` / `...Request` come in, `...Public` / `...Result` go out.

Owns: nothing but definitions; every other package of the server may import it.
Imports: model (the config's defaults)."""
