//! Hardware tokens: the inventory and the devices bound to it.

use super::*;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::totp::TotpParams;

fn token(serial: &str) -> NewHardwareToken {
    NewHardwareToken {
        serial: serial.to_owned(),
        manufacturer: Some("Acme Tokens".into()),
        params: TotpParams {
            digits: 8,
            period: 60,
            ..TotpParams::VIRTUAL
        },
        secret_sealed: vec![5; 40],
        imported_at: T0,
    }
}

fn device(account: &AccountId, id: &str, serial: &str) -> NewDevice {
    NewDevice {
        id: latchkey_domain::DeviceId::new(id.to_owned()),
        account_id: account.clone(),
        kind: DeviceKind::Hardware,
        name: format!("Token {serial}"),
        secret_sealed: vec![6; 40],
        params: TotpParams {
            digits: 8,
            period: 60,
            ..TotpParams::VIRTUAL
        },
        last_used_step: 10,
        created_at: T0,
        serial: Some(serial.to_owned()),
        added_by: None,
    }
}

#[tokio::test]
async fn an_import_is_all_or_nothing_and_serials_are_unique() {
    for Backend { name, store, .. } in backends().await {
        store
            .import_tokens(
                &[token("A-1"), token("A-2")],
                &audit(None, "tokens_imported"),
            )
            .await
            .unwrap();
        let err = store
            .import_tokens(
                &[token("A-3"), token("A-1")],
                &audit(None, "tokens_imported"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("serial")),
            "{name}: {err:?}"
        );
        let serials: Vec<String> = store
            .hardware_tokens()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.serial)
            .collect();
        assert_eq!(
            serials,
            ["A-1", "A-2"],
            "{name}: A-3 was rolled back with the batch"
        );
        let one = store.hardware_token("A-2").await.unwrap().unwrap();
        assert_eq!((one.params.digits, one.params.period), (8, 60), "{name}");
        assert_eq!(one.manufacturer.as_deref(), Some("Acme Tokens"));
        assert!(
            one.device_id.is_none() && one.account_id.is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_token_is_bound_to_one_device_and_returns_to_the_inventory_on_removal() {
    for Backend { name, store, .. } in backends().await {
        let ann = active_account(&store, 40, "hw1@example.com").await;
        let bob = active_account(&store, 41, "hw2@example.com").await;
        store
            .import_tokens(&[token("B-1")], &audit(None, "x"))
            .await
            .unwrap();
        let outcome = store
            .assign_hardware_device(
                &device(&ann, "dev-a", "B-1"),
                8,
                &[],
                &audit(Some(&ann), "x"),
            )
            .await
            .unwrap();
        assert_eq!(outcome, AssignOutcome::Assigned, "{name}");
        let taken = store
            .assign_hardware_device(
                &device(&bob, "dev-b", "B-1"),
                8,
                &[],
                &audit(Some(&bob), "x"),
            )
            .await
            .unwrap();
        assert_eq!(
            taken,
            AssignOutcome::TokenUnavailable,
            "{name}: already bound"
        );
        let unknown = store
            .assign_hardware_device(
                &device(&bob, "dev-c", "NOPE"),
                8,
                &[],
                &audit(Some(&bob), "x"),
            )
            .await
            .unwrap();
        assert_eq!(
            unknown,
            AssignOutcome::TokenUnavailable,
            "{name}: not in the inventory"
        );
        assert!(
            store.mfa_devices(&bob).await.unwrap().is_empty(),
            "{name}: nothing created for bob"
        );
        let held = store.hardware_token("B-1").await.unwrap().unwrap();
        assert_eq!(held.account_id, Some(ann.clone()), "{name}");
        assert_eq!(
            store.mfa_devices(&ann).await.unwrap()[0].serial.as_deref(),
            Some("B-1"),
            "{name}"
        );

        store
            .remove_device(
                &ann,
                &latchkey_domain::DeviceId::new("dev-a"),
                &live_session(&store, &ann).await,
                T0,
                &[],
                &audit(Some(&ann), "x"),
            )
            .await
            .unwrap();
        assert!(
            store
                .hardware_token("B-1")
                .await
                .unwrap()
                .unwrap()
                .device_id
                .is_none(),
            "{name}: free again"
        );
        let reused = store
            .assign_hardware_device(
                &device(&bob, "dev-d", "B-1"),
                8,
                &[],
                &audit(Some(&bob), "x"),
            )
            .await
            .unwrap();
        assert_eq!(reused, AssignOutcome::Assigned, "{name}");
    }
}
