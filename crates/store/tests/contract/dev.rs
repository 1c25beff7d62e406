//! The built-in mailbox.

use super::*;

#[tokio::test]
async fn the_built_in_mailbox_files_a_redelivered_message_once() {
    for Backend {
        name, dev: store, ..
    } in backends().await
    {
        let mail = NewDevMail {
            outbox_id: 42,
            recipient: "mo@example.com".to_owned(),
            subject: "Hello".to_owned(),
            text_body: "text".to_owned(),
            html_body: "<p>html</p>".to_owned(),
            created_at: T0,
        };
        store.insert_dev_mail(&mail).await.unwrap();
        store.insert_dev_mail(&mail).await.unwrap();
        let mails = store.dev_mails(10).await.unwrap();
        assert_eq!(mails.len(), 1, "{name}");
        let one = store.dev_mail(mails[0].id).await.unwrap().unwrap();
        assert_eq!(one.subject, "Hello", "{name}");
        assert_eq!(one.html_body, "<p>html</p>", "{name}");
        assert!(
            store.dev_mail(mails[0].id + 1).await.unwrap().is_none(),
            "{name}"
        );
    }
}
