"""The agent registry: an explicit name -> module map, so an agent can live in any
package (the management pair's `haservices` lives in tandem.hpc.mgmt); only the module
of the agent asked for is imported; unknown names are one line naming the known ones."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tandem.cli.main import main as tandem_main
from tandem.resources import registry
from tandem.resources.base import AgentResult, ResourceAgent, success
from tandem.resources.registry import agent_names, get_agent, register


@register
class EchoAgent(ResourceAgent):
    """A throw-away agent defined outside tandem.resources (in this test module)."""

    name = "test-echo"
    summary = "an agent registered from a test module"

    async def start(self) -> AgentResult:
        return success()

    async def stop(self) -> AgentResult:
        return success()

    async def status(self) -> AgentResult:
        return success()


def test_an_agent_is_taken_from_any_package(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyError):
        get_agent("test-echo")  # registered, but not in the map: unknown
    monkeypatch.setitem(registry.AGENT_MODULES, "test-echo", __name__)
    assert get_agent("test-echo") is EchoAgent
    assert "test-echo" in agent_names()


def test_the_management_agent_lives_with_its_domain() -> None:
    assert get_agent("haservices").__module__ == "tandem.hpc.mgmt.agent"
    assert registry.AGENT_MODULES["haservices"] == "tandem.hpc.mgmt.agent"


def test_unknown_agent_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(KeyError) as caught:
        get_agent("fence")
    message = caught.value.args[0]
    assert message == ("unknown agent 'fence' (known: dummy, fs, haservices, ip, lustre_target, "
                       "nfs_server, ocf, portblock, process, script, slurmctld)")


def test_a_module_that_does_not_register_its_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.AGENT_MODULES, "ghost", "tandem.resources.base")
    with pytest.raises(ImportError, match=r"tandem.resources.base does not register an agent "
                                          r"named 'ghost'"):
        get_agent("ghost")


def test_only_the_module_of_the_agent_asked_for_is_imported() -> None:
    code = ("import sys\n"
            "from tandem.resources.registry import agent_names, get_agent\n"
            "names = agent_names()\n"
            "before = sorted(m for m in sys.modules if m in {'tandem.resources.ip', "
            "'tandem.resources.dummy', 'tandem.hpc.mgmt.agent'})\n"
            "get_agent('dummy')\n"
            "after = sorted(m for m in sys.modules if m in {'tandem.resources.ip', "
            "'tandem.resources.dummy', 'tandem.hpc.mgmt.agent'})\n"
            "print(len(names), before, after)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split(" ", 1) == [str(len(registry.AGENT_MODULES)),
                                         "[] ['tandem.resources.dummy']\n"]


def test_tandem_agent_list_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert tandem_main(["agent", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in listed] == agent_names()
    assert tandem_main(["agent", "info", "haservices"]) == 0
    assert capsys.readouterr().out.startswith("haservices: the management-node service")
    assert tandem_main(["agent", "info", "nosuch"]) == 2
    assert "unknown agent 'nosuch' (known: dummy, fs" in capsys.readouterr().err
