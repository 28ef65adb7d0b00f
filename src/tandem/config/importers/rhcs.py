"""Import a Red Hat Cluster Suite (RHEL 5: cman, fenced, qdiskd, rgmanager)
`cluster.conf` as a tandem cell configuration.

`import_rhcs(text, source)` reads the XML with line numbers and returns the cell (a
`ClusterConfig`), its TOML text (written by tandem.config.writer, a header naming the
source and listing the notes), and one `ImportNote` per thing of the file that was not
carried over or was changed, with its line and element path. XML that is not
well-formed or not a cluster.conf, or a file whose parts contradict each other, raises
ImportProblem (`FILE:LINE: problem`) and nothing is produced.

How the parts map (each module says more):

| cluster.conf | tandem |
|---|---|
| `<cluster name config_version>` | `[cluster] name, config_version` |
| `<clusternode name nodeid votes>` | `[[nodes]] name (short host name), id, votes` |
| node addresses (not in cluster.conf) | `--address` / `--resolve`, else values to fill in |
| `<fence><method><device>` | `fence` levels, in order (rhcs_fence) |
| `<fencedevice agent="fence_ipmilan">` | `ipmi` device + the node's `bmc` |
| `<fencedevice agent="fence_manual">` | `manual` device |
| other `<fencedevice>` | `external` device running the agent |
| `passwd` | never written: a `password_file` to fill in |
| `<cman two_node expected_votes port>` | `two_node`, `expected_votes`, `port` (rhcs_cluster) |
| `<totem token>` | `[timing] token_ms` |
| `<quorumd>` + `<heuristic>` | `[qdisk]` + `[[qdisk.heuristics]]` (rhcs_qdisk) |
| `<failoverdomain>` | each service's `domain` (rhcs_rm) |
| `<service>` | `[[services]]` autostart, recovery, max_restarts |
| `<ip>`, `<fs>`, `<script>` | `ip`, `fs`, `script` resources in start order (rhcs_resources) |

Everything else gets a note: known settings with the reason tandem has no counterpart,
unknown elements and attributes as such (values of unknown attributes are not shown).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tomlkit

from tandem.config.errors import ConfigError
from tandem.config.importers.errors import ImportProblem
from tandem.config.importers.names import plain_name
from tandem.config.importers.notes import ImportNote, Notebook
from tandem.config.importers.rhcs_cluster import import_daemons, import_quorum, import_timing
from tandem.config.importers.rhcs_context import Context, ImportOptions, placeholder
from tandem.config.importers.rhcs_fence import import_fencing
from tandem.config.importers.rhcs_nodes import NodePlan, place_nodes, read_nodes
from tandem.config.importers.rhcs_qdisk import import_quorumd
from tandem.config.importers.rhcs_rm import import_services
from tandem.config.importers.xmldoc import Element, parse_xml
from tandem.config.loader import parse_config
from tandem.config.model import ClusterConfig, NodeDef
from tandem.config.writer import Notes, config_document

COMMAND = "tandem config import-rhcs"


@dataclass(frozen=True)
class RhcsImport:
    """The imported cell: its model, its TOML text, the notes, and the keys whose
    values the operator must fill in (the loader refuses the text until then). A
    complete import's model is the loader's reading of the text; an incomplete one's
    is the model as imported, without the values to fill in, and unchecked."""

    config: ClusterConfig
    text: str
    notes: list[ImportNote]
    fill_ins: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.fill_ins


def import_rhcs(text: str, source: str,
                options: ImportOptions | None = None) -> RhcsImport:
    """The tandem cell that `text` (cluster.conf, read from `source`) describes."""
    root = parse_xml(text, source)
    if root.tag != "cluster":
        raise ImportProblem(source, root.line, f"not a cluster.conf: the root element is "
                                               f"<{root.tag}>, not <cluster>")
    ctx = Context(source, options or ImportOptions(), Notebook(source))
    config, plans = _cell(ctx, root)
    ctx.book.leftovers(root)
    notes = ctx.book.sorted()
    text_out = _text(ctx, root, config, plans, notes)
    if ctx.fill_ins:
        return RhcsImport(config, text_out, notes, list(ctx.fill_ins))
    try:
        loaded = parse_config(text_out, source)
    except ConfigError as exc:
        raise ImportProblem(source, root.line, f"the imported cell does not pass tandem's "
                                               f"checks: {exc.where}: {exc.problem}") from None
    return RhcsImport(loaded, text_out, notes)


def _cell(ctx: Context, root: Element) -> tuple[ClusterConfig, list[NodePlan]]:
    book = ctx.book
    xml_name = root.take("name")
    if not xml_name:
        raise book.fail(root, "the cluster needs a name")
    name = plain_name(xml_name, "cell")
    if name != xml_name:
        book.note(root, f"cluster {xml_name} is called {name} in tandem")
    version = book.integer(root, "config_version", 1)
    book.drop(root, "alias", "only the name is kept")
    plans = read_nodes(ctx, root)
    networks = place_nodes(ctx, plans)
    fencing = import_fencing(ctx, root, plans)
    qdisk = import_quorumd(ctx, root, len(plans))
    quorum = import_quorum(ctx, root, sum(p.votes for p in plans), len(plans), qdisk)
    timing = import_timing(ctx, root, qdisk)
    services = import_services(ctx, root, plans)
    import_daemons(ctx, root)
    nodes = tuple(NodeDef(name=p.name, id=p.id, votes=p.votes,
                          interfaces=tuple(p.interfaces), bmc=fencing.bmcs.get(p.name),
                          fence=fencing.levels.get(p.name, ())) for p in plans)
    config = ClusterConfig(
        name=name, key_file=ctx.options.key_file, source=ctx.source,
        config_version=max(version, 1), port=quorum.port, two_node=quorum.two_node,
        wait_for_all=quorum.two_node, expected_votes=quorum.expected_votes, timing=timing,
        networks=networks, nodes=nodes, fence_devices=tuple(fencing.devices.values()),
        services=services, sections=(qdisk.model,) if qdisk is not None else ())
    return config, plans


def _text(ctx: Context, root: Element, config: ClusterConfig, plans: list[NodePlan],
          notes: list[ImportNote]) -> str:
    """The configuration as TOML: the writer's text, with a header, and the addresses
    to fill in where the nodes lack them."""
    header = [f"Imported from {ctx.source} by `{COMMAND}` (Red Hat Cluster Suite "
              f"cluster {root.attrs.get('name')}, config_version "
              f"{root.attrs.get('config_version', '-')}).",
              "What was not carried over, or was changed (line of the source: note):"]
    header += [f"  {note.line}: {note}" for note in notes] or ["  nothing"]
    if ctx.fill_ins:
        header.append(f"To fill in before use: {', '.join(ctx.fill_ins)}")
    doc = config_document(config, Notes(header=tuple(header)))
    for plan in plans:
        table = doc["nodes"][plan.index]
        for network in plan.missing:
            key = f"nodes[{plan.index}].networks.{network}"
            item = tomlkit.inline_table()
            item.append("interface", placeholder(f"{key}.interface"))
            item.append("address", placeholder(f"{key}.address"))
            if "networks" in table:
                table["networks"][network] = item
            else:
                table.add(tomlkit.key(["networks", network]), item)
    return tomlkit.dumps(doc)
