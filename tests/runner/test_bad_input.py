"""Every class of bad input is refused before anything starts: exit 2, a message naming the
field or file and what was expected, no traceback, no folder left behind."""

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO, gridfed, interruptible
from tests.federations.runs import fast_scenario, wait_for
from tests.runner.cli_inproc import invoke, refused


@pytest.fixture
def scenario(tmp_path):
    return str(fast_scenario(tmp_path))


def test_folder_or_binary_file_as_scenario(tmp_path):
    text = refused(str(tmp_path), out=tmp_path / "never")
    assert "is a folder; expected a scenario YAML file" in text
    binary = tmp_path / "s.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    assert "not a text file" in refused(str(binary), out=tmp_path / "never")


def test_real_process_prints_no_traceback(tmp_path):
    result = gridfed("run", str(tmp_path), "--out", str(tmp_path / "never"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "is a folder" in result.stderr


def test_set_value_that_is_not_yaml(scenario, tmp_path):
    text = refused(scenario, "--set", "duration=[1,", out=tmp_path / "never")
    assert "--set duration: value '[1,' is not valid YAML" in text


def test_out_that_cannot_be_created(scenario, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    text = refused(scenario, out=blocker / "sub")
    assert "--out" in text and "cannot be created" in text
    text = refused(scenario, out=blocker)
    assert "exists and is not a folder" in text


def test_rich_markup_in_values_is_shown_as_typed(scenario, tmp_path):
    text = refused(scenario, "--set", "pv.items=[{bus: '[red]x[/]', profile: flat, p_kw: 1}]",
                   out=tmp_path / "never")
    assert "items[0].bus: '[red]x[/]' is not a bus of ieee13" in text


@pytest.mark.parametrize(("items", "expected"), [
    ("[{bus: '999', profile: flat, p_kw: 1}]",
     "federates.pv.config.items[0].bus: '999' is not a bus of ieee13"),
    ("[{bus: '675', profile: flat, p_kw: 1}, {bus: '675', profile: sunny, p_kw: 1}]",
     "federates.pv.config.items[1].profile: unknown profile 'sunny'; expected one of"),
    ("[{bus: '675', profile: missing.csv, p_kw: 1}]",
     "federates.pv.config.items[0].profile: CSV file 'missing.csv' not found"),
])
def test_player_references(scenario, tmp_path, items, expected):
    assert expected in refused(scenario, "--set", f"pv.items={items}", out=tmp_path / "never")


@pytest.mark.parametrize(("content", "expected"), [
    ("time_s,kw\n0,1\n60,2\n", "has columns ['time_s', 'kw']; expected ['value', 'time_s']"),
    ("time_s,value\n0,1\n60,x\n", "column 'value' row 2: 'x' is not a finite number"),
    ("time_s,value\n0,1\n60,2\n30,3\n", "column 'time_s' is not strictly increasing "
     "(row 3: 30 after 60)"),
    ("", "is not a readable CSV"),
])
def test_malformed_profile_csv(scenario, tmp_path, content, expected):
    csv = tmp_path / "p.csv"
    csv.write_text(content)
    text = refused(scenario, "--set", f"pv.items=[{{bus: '675', profile: '{csv}', p_kw: 1}}]",
                   out=tmp_path / "never")
    assert "federates.pv.config.items[0].profile:" in text and expected in text


def test_grid_load_shape_csv(scenario, tmp_path):
    text = refused(scenario, "--set", "grid.baseline={shape: nowhere.csv}",
                   out=tmp_path / "never")
    assert "federates.grid.config.baseline.shape: CSV file 'nowhere.csv' not found" in text


def test_weather_csv_of_the_houses(tmp_path):
    csv = tmp_path / "w.csv"
    csv.write_text("hour,temp_c\n0,20\n1,21\n")
    text = refused("houses_ieee123", "--set", f"houses.weather={csv}", out=tmp_path / "never")
    assert "federates.houses.config.weather:" in text
    assert "expected ['ghi_w_m2', 'temp_c', 'time_s or hour']" in text


def test_attack_target_and_time(tmp_path):
    attack = "{{id: a, start: {start}, type: LA, targets: {{buses: ['{bus}']}}, scale_kw: 5}}"
    text = refused("attack_1a", "--set", "attacker.attacks=[" + attack.format(
        start="10min", bus="999") + "]", out=tmp_path / "never")
    assert "federates.attacker.config.attacks[0].targets.buses[0]: '999' is not a bus" in text
    text = refused("attack_1a", "--set", "attacker.attacks=[" + attack.format(
        start="2h", bus="35") + "]", out=tmp_path / "never")
    assert "federates.attacker.config.attacks[0].start: 7200 s is outside the run" in text


@pytest.mark.parametrize(("override", "expected"), [
    ("period=2d", "period: 172800 s is longer than the duration 86400 s"),
    ("period=7min", "period: 420 s does not divide the duration 86400 s into whole steps"),
    ("grid.period=2d", "federates.grid.period: 172800 s is longer than the duration"),
    ("period=0.001", "period: Input should be greater than or equal to 0.01"),
    ("duration=.inf", "duration: expected a finite duration"),
    ("duration=-5", "duration: Input should be greater than 0"),
    ("federates={}", "federates: Dictionary should have at least 1 item"),
    ("name=..", "name: String should match pattern"),
    ("name=.hidden", "name: String should match pattern"),
    ("broker.port=80", "broker.port: Input should be greater than or equal to 1024"),
    ("broker.core_type=tcp_ss", "broker.core_type: 'tcp_ss' is not offered"),
])
def test_scenario_fields(scenario, tmp_path, override, expected):
    assert expected in refused(scenario, "--set", override, out=tmp_path / "never")


@pytest.mark.parametrize(("args", "expected"), [
    (["--timeout", "0"], "--timeout 0: expected a positive, finite number of seconds"),
    (["--timeout", "-3"], "--timeout -3: expected a positive, finite number of seconds"),
    (["--timeout", "inf"], "--timeout inf: expected a positive, finite number of seconds"),
    (["--broker-port", "80"], "--broker-port 80: expected a port in 1024..65535"),
    (["--broker-port", "70000"], "--broker-port 70000: expected a port in 1024..65535"),
])
def test_command_line_values(scenario, tmp_path, args, expected):
    assert expected in refused(scenario, *args, out=tmp_path / "never")


def test_remote_broker_needs_an_explicit_opt_in(scenario, tmp_path):
    text = refused(scenario, "--set", "broker.host=0.0.0.0", out=tmp_path / "never")
    assert "broker.host: '0.0.0.0' is not a loopback address" in text
    assert "broker.allow_remote" in text and "--allow-remote-broker" in text
    for opt_in in (["--set", "broker.allow_remote=true"], ["--allow-remote-broker"]):
        out = tmp_path / f"dry{len(opt_in)}"
        code, text = invoke("run", scenario, "--set", "broker.host=0.0.0.0", *opt_in,
                            "--dry-run", "--out", str(out))
        assert code == 0, text
        assert "warning: the broker listens on 0.0.0.0" in text


def test_empty_out_folder_is_kept_on_compile_failure(scenario, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    refused(scenario, "--set", "pv.items=[{bus: '999', profile: flat, p_kw: 1}]", out=out)
    assert out.is_dir() and list(out.iterdir()) == []


def test_second_live_run_on_the_same_out_is_refused(scenario, tmp_path):
    out = tmp_path / "shared"
    first = subprocess.Popen([sys.executable, "-m", "runner", "run", scenario, "--out",
                              str(out), "--external", "ghost", "--timeout", "120"], cwd=REPO,
                             preexec_fn=interruptible, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (out / "launch_plan.json").exists(), what="the first run")
        text = refused(scenario, out=out)
        assert f"in use by a live gridfed run (pid {first.pid})" in text
    finally:
        os.kill(first.pid, signal.SIGINT)
        first.wait(timeout=60)
    assert (out / "INCOMPLETE").read_text().startswith("interrupted")
