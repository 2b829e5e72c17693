"""What the monitor tells a chemist: compositions, a twin's clock as campaign time, a URL that opens, a quiet log."""
from __future__ import annotations

import io
import json
import logging
import socket
import threading
import urllib.request
import zlib

import pytest

from twin.cli import main
from twin.monitor.app import Monitor, campaign_time, compositions, plate_figure
from twin.monitor.cli import check_port, page_urls, serve


def test_campaign_time_reads_like_a_clock():
    assert campaign_time(5 * 3600 + 53 * 60 + 10) == "t = 5 h 53 min"
    assert campaign_time(59) == "t = 0 h 01 min"


def test_a_twin_runs_state_gives_campaign_time_not_the_placeholder_date(faulty_run):
    st = Monitor(faulty_run).state()
    assert st["virtual_clock"] is True
    assert st["expected_end"].startswith("t = ") and "2000-01-01" not in st["expected_end"]


def test_a_real_clock_run_keeps_the_date(copy_run):
    run = copy_run()
    from twin.records.journal import canonical, read_journal

    journal = run / "journal.jsonl"
    recs = read_journal(journal)
    assert not [r for r in recs if r["type"] == "clock"]  # a twin run journals no clock
    recs.append({"seq": len(recs), "type": "clock", "realtime": True, "wall_epoch_s": 0.0, "time_factor": 1.0})
    journal.write_text("".join(json.dumps({"rec": json.loads(canonical(r)), "crc": zlib.crc32(canonical(r).encode())},
                                          separators=(",", ":")) + "\n" for r in recs))
    (run / "results").rename(run / "results_old")  # serve the journal, not the results
    st = Monitor(run).state()
    assert st["virtual_clock"] is False and st["expected_end"].startswith("2000-01-01T")


def test_the_plate_hover_names_each_wells_composition(faulty_run):
    mon = Monitor(faulty_run)
    v = mon.view()
    what = compositions(v.plate)
    assert what["A5"] == "toluene, OAc:OLAm 1:0.5, ligand:PbBr2 1:30"
    assert what["C1"] == "toluene, OAc:OLAm 1:0.1, ligand:PbBr2 1:15"
    fig = plate_figure(v, None, "peak_nm", None)
    text = dict(zip(fig.data[0].customdata, fig.data[0].text))
    assert "toluene, OAc:OLAm 1:0.5, ligand:PbBr2 1:30" in text["A5"]


def test_all_interfaces_print_this_machines_name_and_a_note():
    url, note = page_urls("0.0.0.0", 8050, "tok")
    assert url == f"http://{socket.gethostname()}:8050/?token=tok"
    assert "0.0.0.0" not in url and "all interfaces" in note and "http://127.0.0.1:8050/?token=tok" in note
    assert page_urls("127.0.0.1", 8050, None) == ("http://127.0.0.1:8050/", "")
    assert page_urls("::1", 9, None)[0] == "http://[::1]:9/"


@pytest.mark.parametrize("port", [-1, 65536, 99999])
def test_ports_outside_1_65535_are_refused(port):
    from twin.messages import UserError

    with pytest.raises(UserError, match=f"--port {port}: allowed 1-65535"):
        check_port(port)


def test_watch_refuses_a_bad_port_in_one_line(faulty_run, capsys):
    assert main(["watch", str(faulty_run), "--port", "99999"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "larp-twin: error: --port 99999: allowed 1-65535 (or 0: any free port)"


def test_the_server_logs_no_request_lines(faulty_run, capfd, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")  # where werkzeug writes its request lines
    out = io.StringIO()
    srv = serve(faulty_run, port=0, block=False, out=out)
    try:
        for _ in range(3):
            urllib.request.urlopen(f"http://127.0.0.1:{srv.server_port}/api/state", timeout=20).read()
    finally:
        srv.shutdown()
    captured = capfd.readouterr()
    assert "GET /api/state" not in captured.err + captured.out + caplog.text  # the run's output stays readable
    assert "larp-twin monitor of" in out.getvalue()
