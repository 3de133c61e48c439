//! Two clients attached to one pty program: its window size is that of the client
//! that typed last, and goes back to the remaining client's when one detaches.

use super::term::Term;
use super::{assert_detached_ok, config, program, sh_cmd, wait_tail, IDLE_SH};
use crate::common::*;

#[test]
fn window_size_follows_the_client_that_typed_last() {
    let script = format!(r#"trap "stty size" WINCH; stty size; {IDLE_SH}"#);
    let mut d = Daemon::start(
        "attach-shared-size",
        &config(&[program("sz", &sh_cmd(&script), true, "")]),
    );
    d.wait_state("sz", "RUNNING", secs(10.0));
    wait_tail(&d.socket(), "sz", " ");

    // A (30x100) attaches: its size.
    let mut a = Term::attach(&d.socket(), "sz");
    let ma = a.wait_text(0, "30 100", secs(10.0));
    // B attaches and its terminal grows: B is the latest, its size.
    let mut b = Term::attach(&d.socket(), "sz");
    let mb = b.mark();
    b.resize(40, 120);
    let mb = b.wait_text(mb, "40 120", secs(10.0));
    let ma = a.wait_text(ma, "40 120", secs(10.0));

    // A types: A's size.
    a.keys(b"x");
    let ma = a.wait_text(ma, "30 100", secs(10.0));
    let mb = b.wait_text(mb, "30 100", secs(10.0));
    // B types: B's size.
    b.keys(b"y");
    let mb = b.wait_text(mb, "40 120", secs(10.0));
    a.wait_text(ma, "40 120", secs(10.0));
    // A types, then leaves: back to B's size.
    a.keys(b"z");
    let mb = b.wait_text(mb, "30 100", secs(10.0));
    assert_detached_ok(&mut a, "sz");
    b.wait_text(mb, "40 120", secs(10.0));
    assert_detached_ok(&mut b, "sz");
    d.finish(secs(20.0));
}
