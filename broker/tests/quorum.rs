#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Voter-set changes of the metadata quorum with broker processes on loopback: brokers not named
//! in `--controller-quorum-voters` join as Raft learners; `PUT /v1/cluster/voters` grows a
//! one-voter quorum to three (which then survives losing the first voter) and removes a voter
//! (which stays a learner); bad requests are refused with 400/409/503.

mod common;
mod wire;

use common::{TestBroker, free_port, spawn_all};
use eddy_test_support::eventually;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wire::Wire;

/// A broker of a cluster whose initial voters are `voters`; `listener` is its controller
/// listener (a broker not named among the voters needs one to become a learner).
fn broker(id: usize, voters: &str, listener: Option<u16>) -> TestBroker {
    let mut args = vec![
        "--node-id".into(),
        id.to_string(),
        "--controller-quorum-voters".into(),
        voters.to_string(),
        "--broker-session-timeout-ms".into(),
        "4000".into(),
    ];
    if let Some(p) = listener {
        args.push("--controller-listener".into());
        args.push(format!("127.0.0.1:{p}"));
    }
    TestBroker::new(&[], args)
}

fn metadata(b: &TestBroker) -> Option<MetadataResponse> {
    std::net::TcpStream::connect(b.bootstrap()).ok()?;
    let mut w = Wire::connect(&b.bootstrap());
    Some(w.call(&MetadataRequest::default().with_topics(None), 12))
}

fn has_topic(b: &TestBroker, topic: &str) -> bool {
    metadata(b).is_some_and(|m| {
        m.topics
            .iter()
            .any(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
    })
}

/// Polls until `ok` holds (bounded: 60 s).
fn wait_until(what: &str, ok: impl FnMut() -> bool) {
    eventually(
        what,
        Duration::from_secs(60),
        Duration::from_millis(100),
        ok,
    )
    .unwrap();
}

fn create_topic(b: &TestBroker, name: &str) -> i16 {
    let mut w = Wire::connect(&b.bootstrap());
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    w.call(&req, 7).topics[0].error_code
}

/// An HTTP/1.0 request with a JSON body on loopback: (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (code, body)
}

fn quorum(b: &TestBroker) -> Option<Value> {
    let (code, body) = common::http_get(b.admin_port, "/v1/cluster/quorum")?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Polls `b`'s quorum view until `ok` holds (bounded: 60 s).
fn wait_quorum(b: &TestBroker, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    eventually(
        what,
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let v = quorum(b).ok_or_else(|| "no quorum view".to_owned())?;
            if ok(&v) {
                Ok(v)
            } else {
                Err(format!("quorum view {v:#}"))
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", b.log()))
}

/// PUT /v1/cluster/voters; returns the status, the JSON answer and how long it took.
fn put_voters(b: &TestBroker, body: &str) -> (u16, Value, Duration) {
    let t = Instant::now();
    let (code, text) = http(b.admin_port, "PUT", "/v1/cluster/voters", body);
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v, t.elapsed())
}

#[test]
fn a_single_voter_grows_to_three_and_the_quorum_survives_losing_it() {
    let p: Vec<u16> = (0..3).map(|_| free_port()).collect();
    // Every broker is told only about broker 0: the initial voter and where to find the quorum,
    // by a host name (resolved on every connection, as a pod's DNS name in Kubernetes).
    let voters = format!("0@localhost:{}", p[0]);
    let mut brokers: Vec<TestBroker> = (0..3).map(|i| broker(i, &voters, Some(p[i]))).collect();
    brokers[0].spawn();
    let q = wait_quorum(&brokers[0], "broker 0 leading alone", |q| q["leader"] == 0);
    assert_eq!(q["voters"], json!([0]));
    wait_until("broker 0 registered", || {
        metadata(&brokers[0]).is_some_and(|m| m.brokers.len() == 1)
    });
    assert_eq!(create_topic(&brokers[0], "before"), 0);

    brokers[1].spawn();
    brokers[2].spawn();
    let q = wait_quorum(&brokers[0], "brokers 1 and 2 as learners", |q| {
        q["learners"] == json!([1, 2])
    });
    assert_eq!(q["voters"], json!([0]));
    assert_eq!(q["nodes"]["0"], format!("localhost:{}", p[0]));
    assert_eq!(q["nodes"]["2"], format!("127.0.0.1:{}", p[2]));
    // A learner replays the log by replication: it sees itself in the membership and the topic
    // created before it started.
    wait_quorum(&brokers[2], "broker 2's own view", |q| {
        q["learners"] == json!([1, 2]) && q["leader"] == 0
    });
    wait_until("broker 2 knows the earlier topic", || {
        has_topic(&brokers[2], "before")
    });

    // Grow to three voters, asking a learner (forwarded to the active controller).
    let (code, v, took) = put_voters(&brokers[1], r#"{"voters": [0, 1, 2]}"#);
    assert_eq!(code, 200, "{v:#}");
    assert_eq!(v["voters"], json!([0, 1, 2]));
    assert_eq!(v["learners"], json!([]));
    eprintln!("MEASURED grow 1 -> 3 voters: {} ms", took.as_millis());
    // Idempotent: the same set again changes nothing.
    let (code, again, took) = put_voters(&brokers[2], r#"{"voters": [2, 1, 0]}"#);
    assert_eq!(code, 200, "{again:#}");
    assert_eq!(again["voters"], json!([0, 1, 2]));
    eprintln!("MEASURED repeated voter set: {} ms", took.as_millis());
    for b in &brokers {
        wait_quorum(b, "three voters everywhere", |q| {
            q["voters"] == json!([0, 1, 2])
        });
    }

    // The first voter (normally still the controller: voter changes keep the leader) dies: 1
    // and 2 elect a controller and metadata keeps changing.
    let before = quorum(&brokers[1]).unwrap()["leader"].clone();
    let killed = Instant::now();
    brokers[0].kill9();
    let q = wait_quorum(&brokers[1], "a new controller among 1 and 2", |q| {
        q["leader"] == 1 || q["leader"] == 2
    });
    if before == 0 {
        eprintln!(
            "MEASURED new controller after kill -9 of voter 0: {} ms",
            killed.elapsed().as_millis()
        );
    }
    let leader = q["leader"].as_u64().unwrap() as usize;
    assert_eq!(create_topic(&brokers[3 - leader], "after"), 0);
    wait_until("both survivors know the new topic", || {
        has_topic(&brokers[1], "after") && has_topic(&brokers[2], "after")
    });

    // Broker 0 returns with its data: a voter again, and it catches up.
    brokers[0].spawn();
    let q = wait_quorum(&brokers[0], "broker 0 back in the quorum", |q| {
        q["voters"] == json!([0, 1, 2]) && q["leader"].is_u64()
    });
    assert_eq!(q["learners"], json!([]));
    wait_until("broker 0 caught up", || has_topic(&brokers[0], "after"));
    assert_eq!(create_topic(&brokers[0], "last"), 0);
    wait_until("the last topic everywhere", || {
        brokers.iter().all(|b| has_topic(b, "last"))
    });

    // A voter restarts at a new controller address (as a pod with a new IP would): it registers
    // it, the controller updates the membership, and it keeps replicating.
    brokers[2].kill9();
    let moved = free_port();
    let at = brokers[2].args.len() - 1;
    brokers[2].args[at] = format!("127.0.0.1:{moved}");
    brokers[2].spawn();
    let ready = Instant::now();
    wait_quorum(&brokers[0], "broker 2's new address", |q| {
        q["nodes"]["2"] == format!("127.0.0.1:{moved}")
    });
    eprintln!(
        "MEASURED address update after the restarted voter was ready: {} ms",
        ready.elapsed().as_millis()
    );
    assert_eq!(create_topic(&brokers[1], "moved"), 0);
    wait_until("broker 2 replicates at its new address", || {
        has_topic(&brokers[2], "moved")
    });
    eprintln!(
        "MEASURED restarted voter at a new address serves a new topic: {} ms after ready",
        ready.elapsed().as_millis()
    );
}

#[test]
fn a_removed_voter_stays_a_learner_and_bad_voter_sets_are_refused() {
    let p: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let voters = (0..3)
        .map(|i| format!("{i}@127.0.0.1:{}", p[i]))
        .collect::<Vec<_>>()
        .join(",");
    let mut brokers: Vec<TestBroker> = (0..4).map(|i| broker(i, &voters, Some(p[i]))).collect();
    spawn_all(&mut brokers);
    let q = wait_quorum(&brokers[3], "broker 3 a learner", |q| {
        q["learners"] == json!([3]) && q["leader"].is_u64()
    });
    assert_eq!(q["voters"], json!([0, 1, 2]));

    // A named voter that lost its data does not start a second quorum: it finds the existing one
    // and is replicated to (without openraft's `loosen-follower-log-revert` the leader's Raft
    // core panicked here on the follower's shorter log).
    assert_eq!(create_topic(&brokers[0], "early"), 0);
    brokers[1].kill9();
    std::fs::remove_dir_all(brokers[1].data_dir()).unwrap();
    brokers[1].spawn();
    wait_until("the wiped voter replicated the log again", || {
        has_topic(&brokers[1], "early")
    });
    assert!(
        brokers[1]
            .log()
            .contains("empty metadata store but the quorum exists"),
        "{}",
        brokers[1].log()
    );

    // Bad requests lose nothing and say why.
    for bad in [
        "",
        "not json",
        "{}",
        r#"{"voters": []}"#,
        r#"{"voters": [0, 0]}"#,
        r#"{"voters": [-1]}"#,
        r#"{"voters": [0], "extra": 1}"#,
    ] {
        let (code, v, _) = put_voters(&brokers[0], bad);
        assert_eq!(code, 400, "{bad:?}: {v:#}");
        assert!(v["error"].is_string(), "{v:#}");
    }
    let (code, v, _) = put_voters(&brokers[1], r#"{"voters": [0, 1, 9]}"#);
    assert_eq!(code, 409, "{v:#}");
    assert!(v["error"].as_str().unwrap().contains("broker 9"), "{v:#}");
    assert_eq!(quorum(&brokers[0]).unwrap()["voters"], json!([0, 1, 2]));

    // Remove voter 2: it stays a learner.
    let (code, v, took) = put_voters(&brokers[3], r#"{"voters": [0, 1]}"#);
    assert_eq!(code, 200, "{v:#}");
    assert_eq!(v["voters"], json!([0, 1]));
    assert_eq!(v["learners"], json!([2, 3]));
    eprintln!("MEASURED remove a voter: {} ms", took.as_millis());
    wait_quorum(&brokers[2], "broker 2 sees itself a learner", |q| {
        q["voters"] == json!([0, 1]) && q["learners"] == json!([2, 3])
    });

    // Broker 2 dies: 2 of 2 voters are alive, so metadata changes still work, also from a learner.
    brokers[2].kill9();
    wait_quorum(&brokers[0], "a controller among 0 and 1", |q| {
        q["leader"] == 0 || q["leader"] == 1
    });
    assert_eq!(create_topic(&brokers[3], "after-removal"), 0);
    wait_until("everyone alive knows the topic", || {
        [0, 1, 3]
            .iter()
            .all(|i| has_topic(&brokers[*i], "after-removal"))
    });

    // A learner that is down cannot catch up, so it cannot become a voter: 409, nothing changed.
    brokers[3].kill9();
    assert_eq!(create_topic(&brokers[0], "moves-the-log"), 0);
    let (code, v, _) = put_voters(&brokers[0], r#"{"voters": [0, 1, 3]}"#);
    assert_eq!(code, 409, "{v:#}");
    assert!(
        v["error"].as_str().unwrap().contains("not caught up"),
        "{v:#}"
    );
    assert_eq!(quorum(&brokers[1]).unwrap()["voters"], json!([0, 1]));

    // Restarted, the learner catches up by replication and can become a voter.
    brokers[3].spawn();
    wait_until("broker 3 caught up", || {
        has_topic(&brokers[3], "moves-the-log")
    });
    let (code, v, took) = put_voters(&brokers[1], r#"{"voters": [0, 1, 3]}"#);
    assert_eq!(code, 200, "{v:#}");
    assert_eq!(v["voters"], json!([0, 1, 3]));
    assert_eq!(v["learners"], json!([2]));
    eprintln!(
        "MEASURED add a restarted learner as a voter: {} ms",
        took.as_millis()
    );

    // Without a majority of the voters there is no controller to change anything: 503.
    brokers[1].kill9();
    brokers[3].kill9();
    let (code, v, _) = put_voters(&brokers[0], r#"{"voters": [0]}"#);
    assert_eq!(code, 503, "{v:#}");
}

#[test]
fn a_single_node_broker_has_no_quorum_to_change() {
    let b = TestBroker::start(&[]);
    let (code, body) = common::http_get(b.admin_port, "/v1/cluster/quorum").unwrap();
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("cluster mode"), "{body}");
    let (code, v, _) = put_voters(&b, r#"{"voters": [0]}"#);
    assert_eq!(code, 409, "{v:#}");
}
