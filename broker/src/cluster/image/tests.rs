//! Unit tests of the metadata image: placement, elections, fencing, reassignments.

mod placement {
    use super::super::*;

    /// Creates topic `name` with explicit replica `assignment` (one list per partition).
    pub(super) fn create(img: &mut ClusterImage, name: &str, assignment: Vec<Vec<i32>>) -> Outcome {
        img.apply(&Command::CreateTopic {
            name: name.into(),
            id: uuid::Uuid::nil(),
            configs: BTreeMap::new(),
            partitions: i32::try_from(assignment.len()).unwrap(),
            replication_factor: i16::try_from(assignment[0].len()).unwrap(),
            assignment: Some(assignment),
        })
    }

    pub(super) fn register(img: &mut ClusterImage, id: i32, rack: Option<&str>) {
        img.apply(&Command::RegisterBroker {
            id,
            host: "127.0.0.1".into(),
            port: 9092 + id as u16,
            rack: rack.map(str::to_string),
            cluster_id: "c".into(),
            endpoints: vec![],
            supported_features: crate::features::supported_by(1),
        });
    }

    #[test]
    fn feature_levels_need_every_broker_and_a_newer_binary_cannot_be_outrun() {
        use crate::features::{EDDY_VERSION, Supported};
        let new_binary: Supported = crate::features::supported_by(2);
        let mut img = ClusterImage::default();
        register(&mut img, 0, None);
        let join = |img: &mut ClusterImage, id: i32, s: &Supported| {
            img.apply(&Command::RegisterBroker {
                id,
                host: "127.0.0.1".into(),
                port: 9092,
                rack: None,
                cluster_id: "c".into(),
                endpoints: vec![],
                supported_features: s.clone(),
            })
        };
        assert_eq!(join(&mut img, 1, &new_binary), Outcome::Ok);
        let two = BTreeMap::from([
            (EDDY_VERSION.to_string(), 2),
            (crate::features::TRANSACTION_VERSION.to_string(), 2),
        ]);
        // Broker 0 runs the old binary: level 2 is refused.
        assert!(matches!(
            img.apply(&Command::UpdateFeatures {
                levels: two.clone(),
                expected_epoch: 0
            }),
            Outcome::Refused(Refusal::UnsupportedFeatureLevel, _)
        ));
        // Broker 0 rolls to the new binary; a stale epoch is refused, the right one applies.
        assert_eq!(join(&mut img, 0, &new_binary), Outcome::Ok);
        assert!(matches!(
            img.apply(&Command::UpdateFeatures {
                levels: two.clone(),
                expected_epoch: 7
            }),
            Outcome::Refused(Refusal::ConfigChanged, _)
        ));
        assert_eq!(
            img.apply(&Command::UpdateFeatures {
                levels: two,
                expected_epoch: 0
            }),
            Outcome::Ok
        );
        assert_eq!(img.features.levels[EDDY_VERSION], 2);
        assert_eq!(img.features.epoch, 1);
        // An old binary can no longer join.
        assert!(matches!(
            join(&mut img, 2, &crate::features::legacy_supported()),
            Outcome::Refused(Refusal::UnsupportedFeatureLevel, _)
        ));
        assert!(!img.brokers.contains_key(&2));
    }

    #[test]
    fn placement_spreads_leaders_and_racks() {
        let mut img = ClusterImage::default();
        register(&mut img, 0, Some("a"));
        register(&mut img, 1, Some("a"));
        register(&mut img, 2, Some("b"));
        register(&mut img, 3, Some("b"));
        let a = img.place(4, 2).unwrap();
        let rack = |id: i32| img.brokers[&id].rack.clone();
        for replicas in &a {
            assert_ne!(rack(replicas[0]), rack(replicas[1]), "{a:?}");
        }
        let mut leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
        leaders.sort_unstable();
        assert_eq!(leaders, vec![0, 1, 2, 3]);
        assert!(img.place(1, 5).is_err());
    }

    #[test]
    fn maintenance_and_controlled_shutdown_move_leadership_within_the_isr() {
        let mut img = ClusterImage::default();
        for id in 0..3 {
            register(&mut img, id, None);
        }
        create(&mut img, "t", vec![vec![0, 1, 2]]);
        create(&mut img, "u", vec![vec![0]]);
        img.apply(&Command::SetMaintenance { id: 0, on: true });
        let p = &img.topics["t"].partitions;
        assert_eq!((p[0].leader, p[0].leader_epoch), (1, 1));
        // RF=1: nowhere to move, it keeps its leader rather than going offline.
        let u = &img.topics["u"].partitions[0];
        assert_eq!((u.leader, u.leader_epoch), (0, 0));
        // Registering again keeps the operator's maintenance flag.
        register(&mut img, 0, None);
        assert!(img.brokers[&0].maintenance);
        img.apply(&Command::ControlledShutdown { id: 1 });
        let p = &img.topics["t"].partitions;
        assert_eq!(p[0].leader, 2, "moved to the replica not in maintenance");
        assert_eq!(p[0].isr, vec![0, 2], "the stopping broker left the ISR");
        // Still fetching until it exits, it may not rejoin.
        let rejoin = |img: &mut ClusterImage| {
            let p = img.topics["t"].partitions[0].clone();
            img.apply(&Command::AlterIsr {
                topic: "t".into(),
                partition: 0,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                isr: vec![0, 2, 1],
            });
            img.topics["t"].partitions[0].isr.clone()
        };
        assert_eq!(rejoin(&mut img), vec![0, 2]);
        register(&mut img, 1, None);
        assert!(!img.brokers[&1].shutting_down);
        assert_eq!(
            rejoin(&mut img),
            vec![0, 2, 1],
            "back after registering again"
        );
    }

    #[test]
    fn preferred_and_unclean_elections() {
        let mut img = ClusterImage::default();
        for id in 0..3 {
            register(&mut img, id, None);
        }
        create(&mut img, "t", vec![vec![0, 1, 2]]);
        let elect = |img: &mut ClusterImage, unclean| {
            img.apply(&Command::ElectLeader {
                topic: "t".into(),
                partition: 0,
                unclean,
            })
        };
        assert!(matches!(
            elect(&mut img, false),
            Outcome::Refused(Refusal::ElectionNotNeeded, _)
        ));
        img.apply(&Command::SetMaintenance { id: 0, on: true });
        assert!(matches!(
            elect(&mut img, false),
            Outcome::Refused(Refusal::PreferredLeaderNotAvailable, _)
        ));
        img.apply(&Command::SetMaintenance { id: 0, on: false });
        assert_eq!(elect(&mut img, false), Outcome::Ok);
        assert_eq!(img.topics["t"].partitions[0].leader, 0);
        // Unclean: only for a leaderless partition, onto a live out-of-sync replica.
        img.topics.get_mut("t").unwrap().partitions[0].isr = vec![0];
        img.apply(&Command::FenceBroker { id: 0 });
        assert_eq!(img.topics["t"].partitions[0].leader, NO_LEADER);
        assert_eq!(elect(&mut img, true), Outcome::Ok);
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
    }

    #[test]
    fn fencing_the_leader_elects_from_the_isr_only() {
        let mut img = ClusterImage::default();
        for id in 0..3 {
            register(&mut img, id, None);
        }
        create(&mut img, "t", vec![vec![1, 2, 0]]);
        let p = img.topics["t"].partitions[0].clone();
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2, 0]));
        img.topics.get_mut("t").unwrap().partitions[0].isr = vec![1];
        // The only in-sync replica dies: no unclean election, the partition goes offline.
        img.apply(&Command::FenceBroker { id: 1 });
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (NO_LEADER, 1));
        assert_eq!(p.isr, vec![1]);
        // It comes back: leader again with a new epoch.
        img.apply(&Command::UnfenceBroker { id: 1 });
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (1, 2));
        // With two in sync, fencing the leader moves leadership to the other one.
        img.topics.get_mut("t").unwrap().partitions[0].isr = vec![1, 2];
        img.apply(&Command::FenceBroker { id: 1 });
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (2, vec![2], 3));
    }

    #[test]
    fn controller_addresses_belong_to_registered_brokers() {
        let mut img = ClusterImage::default();
        let set = |id| Command::SetControllerAddress {
            id,
            addr: format!("broker-{id}.eddy:9095"),
        };
        assert!(matches!(
            img.apply(&set(1)),
            Outcome::Refused(Refusal::UnknownBroker, _)
        ));
        assert!(img.controllers.is_empty());
        register(&mut img, 1, None);
        assert_eq!(img.apply(&set(1)), Outcome::Ok);
        assert_eq!(img.controllers[&1], "broker-1.eddy:9095");
        // A restart registers again and keeps the address until it sets a new one.
        register(&mut img, 1, None);
        assert_eq!(img.controllers[&1], "broker-1.eddy:9095");
        // Images written before the field existed still load.
        let old = r#"{"cluster_id":"c","brokers":{},"topics":{}}"#;
        let img: ClusterImage = serde_json::from_str(old).unwrap();
        assert!(img.controllers.is_empty());
    }
}

mod reassign {
    use super::super::*;
    use super::placement::{create, register};

    fn cluster(n: i32) -> ClusterImage {
        let mut img = ClusterImage::default();
        for id in 0..n {
            register(&mut img, id, None);
        }
        create(&mut img, "t", vec![vec![0, 1]]);
        img
    }

    fn alter_isr(img: &mut ClusterImage, isr: Vec<i32>) -> Outcome {
        let p = img.topics["t"].partitions[0].clone();
        img.apply(&Command::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            isr,
        })
    }

    #[test]
    fn a_reassignment_runs_on_the_union_and_completes_when_the_target_is_in_sync() {
        let mut img = cluster(3);
        let reassign = |img: &mut ClusterImage, target: Option<Vec<i32>>| {
            img.apply(&Command::AlterReassignment {
                topic: "t".into(),
                partition: 0,
                target,
            })
        };
        assert_eq!(reassign(&mut img, Some(vec![2, 1])), Outcome::Ok);
        let p = img.topics["t"].partitions[0].clone();
        assert_eq!(p.replicas, vec![2, 1, 0], "the union while moving");
        let r = &img.reassignments["t"][&0];
        assert_eq!((r.adding(), r.removing(&p.replicas)), (vec![2], vec![0]));
        // 2 catches up and joins the ISR: complete, 0 (the leader) leaves, 2 leads.
        assert_eq!(alter_isr(&mut img, vec![0, 1, 2]), Outcome::Ok);
        let p = img.topics["t"].partitions[0].clone();
        assert_eq!((p.replicas, p.isr), (vec![2, 1], vec![1, 2]));
        assert_eq!((p.leader, p.leader_epoch), (2, 1));
        assert!(img.reassignments.is_empty());
        // Nothing to cancel now.
        assert!(matches!(
            reassign(&mut img, None),
            Outcome::Refused(Refusal::NoReassignmentInProgress, _)
        ));
        // Bad targets.
        for bad in [vec![], vec![7], vec![1, 1]] {
            assert!(matches!(
                reassign(&mut img, Some(bad)),
                Outcome::Refused(Refusal::InvalidReplicaAssignment, _)
            ));
        }
        assert!(matches!(
            img.apply(&Command::AlterReassignment {
                topic: "t".into(),
                partition: 5,
                target: Some(vec![0]),
            }),
            Outcome::Refused(Refusal::UnknownTopic, _)
        ));
    }

    #[test]
    fn a_new_target_replaces_the_reassignment_in_progress() {
        let mut img = cluster(4);
        let reassign = |img: &mut ClusterImage, target: Vec<i32>| {
            img.apply(&Command::AlterReassignment {
                topic: "t".into(),
                partition: 0,
                target: Some(target),
            })
        };
        assert_eq!(reassign(&mut img, vec![2, 3]), Outcome::Ok);
        // Only 2 caught up: not complete while 3 is missing.
        assert_eq!(alter_isr(&mut img, vec![0, 1, 2]), Outcome::Ok);
        assert_eq!(img.topics["t"].partitions[0].replicas, vec![2, 3, 0, 1]);
        // A new target: the original stays what the partition had before any move.
        assert_eq!(reassign(&mut img, vec![3, 1]), Outcome::Ok);
        let p = img.topics["t"].partitions[0].clone();
        let r = img.reassignments["t"][&0].clone();
        assert_eq!(p.replicas, vec![3, 1, 2, 0]);
        assert_eq!(r.original, vec![0, 1]);
        assert_eq!((r.adding(), r.removing(&p.replicas)), (vec![3], vec![2, 0]));
        // A target already in sync completes at once (replacing the one in progress); the
        // leader 0 stays, the others leave.
        assert_eq!(reassign(&mut img, vec![2, 0]), Outcome::Ok);
        let p = &img.topics["t"].partitions[0];
        assert_eq!(
            (p.replicas.clone(), p.isr.clone()),
            (vec![2, 0], vec![0, 2])
        );
        assert_eq!((p.leader, p.leader_epoch), (0, 0));
        assert!(img.reassignments.is_empty());
    }

    #[test]
    fn cancelling_goes_back_to_the_original_replicas() {
        let mut img = cluster(3);
        img.apply(&Command::AlterReassignment {
            topic: "t".into(),
            partition: 0,
            target: Some(vec![2]),
        });
        assert_eq!(img.topics["t"].partitions[0].replicas, vec![2, 0, 1]);
        let out = img.apply(&Command::AlterReassignment {
            topic: "t".into(),
            partition: 0,
            target: None,
        });
        assert_eq!(out, Outcome::Ok);
        let p = &img.topics["t"].partitions[0];
        assert_eq!((p.replicas.clone(), p.leader), (vec![0, 1], 0));
        assert!(img.reassignments.is_empty());
    }

    #[test]
    fn partitions_grow_with_placement_or_an_explicit_assignment_and_configs_replace() {
        let mut img = cluster(3);
        let grow = |img: &mut ClusterImage, count, assignment| {
            img.apply(&Command::CreatePartitions {
                name: "t".into(),
                count,
                assignment,
            })
        };
        assert!(matches!(
            grow(&mut img, 1, None),
            Outcome::Refused(Refusal::InvalidPartitions, _)
        ));
        assert!(matches!(
            grow(&mut img, 2, Some(vec![vec![2]])),
            Outcome::Refused(Refusal::InvalidReplicaAssignment, _)
        ));
        assert_eq!(grow(&mut img, 2, Some(vec![vec![2, 0]])), Outcome::Ok);
        assert_eq!(grow(&mut img, 3, None), Outcome::Ok);
        let t = &img.topics["t"];
        assert_eq!(t.partitions[1].replicas, vec![2, 0]);
        assert_eq!(t.partitions[1].leader, 2);
        assert_eq!(t.partitions[2].replicas.len(), 2);
        let configs: BTreeMap<String, String> =
            [("retention.ms".to_string(), "1000".to_string())].into();
        img.apply(&Command::SetTopicConfigs {
            name: "t".into(),
            configs: configs.clone(),
            expected: Some(BTreeMap::new()),
        });
        assert_eq!(img.topics["t"].configs, configs);
        // Compare-and-set: a change computed from stale overrides is refused.
        assert!(matches!(
            img.apply(&Command::SetTopicConfigs {
                name: "t".into(),
                configs: BTreeMap::new(),
                expected: Some(BTreeMap::new()),
            }),
            Outcome::Refused(Refusal::ConfigChanged, _)
        ));
        assert_eq!(img.topics["t"].configs, configs);
        img.apply(&Command::SetBrokerConfigs {
            broker: "1".into(),
            configs: configs.clone(),
            expected: None,
        });
        assert_eq!(img.broker_configs["1"], configs);
        assert!(matches!(
            img.apply(&Command::SetBrokerConfigs {
                broker: "1".into(),
                configs: BTreeMap::new(),
                expected: Some(BTreeMap::new()),
            }),
            Outcome::Refused(Refusal::ConfigChanged, _)
        ));
    }

    #[test]
    fn acl_bindings_are_added_once_and_removed_exactly() {
        use crate::security::acl::AclBinding;
        let read = AclBinding::from_wire(2, "t", 3, "User:a", "*", 3, 3).expect("binding");
        let write = AclBinding::from_wire(2, "t", 4, "User:a", "*", 4, 3).expect("binding");
        let mut img = cluster(1);
        let create = Command::CreateAcls {
            bindings: vec![read.clone(), write.clone()],
        };
        assert_eq!(img.apply(&create), Outcome::Ok);
        assert_eq!(img.apply(&create), Outcome::Ok);
        assert_eq!(img.acls.len(), 2);
        img.apply(&Command::DeleteAcls {
            bindings: vec![read],
        });
        assert_eq!(img.acls.iter().collect::<Vec<_>>(), vec![&write]);
        // Older images (no "acls" field) still load.
        let json = serde_json::to_value(&img).expect("json");
        let mut old = json.clone();
        old.as_object_mut().expect("object").remove("acls");
        let back: ClusterImage = serde_json::from_value(old).expect("old image");
        assert!(back.acls.is_empty());
    }

    #[test]
    fn client_quotas_are_altered_by_command_and_survive_serialization() {
        use crate::security::quota::{EntityName, QuotaAlteration, QuotaEntity, QuotaValue};
        let mut img = cluster(3);
        let entity = QuotaEntity::client(EntityName::Name("slow".into()));
        let set = QuotaAlteration {
            entity: entity.clone(),
            set: [("producer_byte_rate".to_string(), QuotaValue(1024.0))].into(),
            remove: vec![],
        };
        assert_eq!(
            img.apply(&Command::AlterClientQuotas { changes: vec![set] }),
            Outcome::Ok
        );
        assert_eq!(
            img.client_quotas.get(&entity, "producer_byte_rate"),
            Some(1024.0)
        );
        // The image goes through the Raft snapshot as JSON.
        let json = serde_json::to_vec(&img).unwrap();
        let back: ClusterImage = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.client_quotas, img.client_quotas);
        let remove = QuotaAlteration {
            entity,
            set: BTreeMap::new(),
            remove: vec!["producer_byte_rate".into()],
        };
        img.apply(&Command::AlterClientQuotas {
            changes: vec![remove],
        });
        assert!(img.client_quotas.0.is_empty());
    }
}
