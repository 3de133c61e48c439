//! `depends_on: {NAME: healthy}`: a dependant starts only once every instance
//! of its dependency is healthy, and says what it waits for meanwhile.

use super::*;

#[test]
fn a_dependant_waits_for_its_dependency_to_be_healthy() {
    let server = HttpServer::start();
    server.set_status(503);
    let mut d = Daemon::start(
        "health-depends",
        &format!(
            "programs:
  db:
    cmd: TESTPROG sleep
    starttime: 0
    numprocs: 2
    healthcheck: {{http: \"http://127.0.0.1:{}/\", interval: 0.1, retries: 100, on_failure: none}}
  web:
    cmd: TESTPROG sleep
    starttime: 0
    depends_on: {{db: healthy}}
  api:
    cmd: TESTPROG sleep
    starttime: 0
    depends_on: {{db: running}}
",
            server.port
        ),
    );
    d.wait_state("db:0", "RUNNING", secs(20.0));
    d.wait_state("db:1", "RUNNING", secs(20.0));
    // `running` is enough for api; web waits for health, and says so.
    d.wait_state("api", "RUNNING", secs(20.0));
    wait_for("web waiting for health", secs(20.0), || {
        description(&mut d, "web")
            .contains("Waiting for db to be healthy")
            .then_some(())
    });
    assert_eq!(d.instance("web")["state"], "STOPPED");
    assert_eq!(health(&mut d, "db:0"), "starting");
    server.set_status(200);
    d.wait_state("web", "RUNNING", secs(20.0));
    assert_eq!(health(&mut d, "db:0"), "healthy");
    assert_eq!(health(&mut d, "db:1"), "healthy");
    assert_eq!(d.finish(secs(20.0)), 0);
}
