//! Unit tests of lockstep.toml parsing: each error names file, line and key.

use std::path::Path;

use super::*;

fn err(text: &str) -> (usize, String, String) {
    match parse(text, "lockstep.toml", Path::new("/p")) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => (line, key, message),
        Err(other) => panic!("unexpected {other}"),
    }
}

#[test]
fn empty_file_gives_working_defaults() {
    let c = parse("", "lockstep.toml", Path::new("/p")).unwrap();
    assert_eq!(c.project.reporting_currency.get_ref(), "USD");
    assert_eq!(c.warehouse.url.get_ref().0, "file://./warehouse");
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let (line, key, msg) = err("[project]\nname = \"x\"\ncolour = \"red\"\n");
    assert_eq!(line, 3);
    assert_eq!(key, "project.colour");
    assert!(msg.contains("unknown field"), "{msg}");
}

#[test]
fn wrong_type_is_named_with_its_line() {
    let (line, key, msg) = err("[project]\nsource_priority = 5\n");
    assert_eq!((line, key.as_str()), (2, "project.source_priority"));
    assert!(msg.contains("invalid type"), "{msg}");
}

#[test]
fn missing_env_var_names_the_variable_and_key() {
    let text =
        "[destinations.hubspot]\nkind = \"hubspot\"\ntoken = \"${LOCKSTEP_TEST_UNSET_TOKEN}\"\n";
    let (line, key, msg) = err(text);
    assert_eq!(line, 3);
    assert_eq!(key, "destinations.hubspot.token");
    assert!(msg.contains("LOCKSTEP_TEST_UNSET_TOKEN"), "{msg}");
}

#[test]
fn literal_secrets_are_refused() {
    let text = "[destinations.k]\nkind = \"klaviyo\"\napi_key = \"pk_live_123\"\n";
    let (_, key, msg) = err(text);
    assert_eq!(key, "destinations.k.api_key");
    assert!(msg.contains("environment reference"), "{msg}");
    assert!(
        !msg.contains("pk_live_123"),
        "the secret must not be echoed: {msg}"
    );
}

#[test]
fn bad_warehouse_url_points_at_the_value() {
    let (line, key, msg) = err("\n[warehouse]\nurl = \"ftp://host/x\"\n");
    assert_eq!((line, key.as_str()), (3, "warehouse.url"));
    assert!(msg.contains("ftp"), "{msg}");
}

#[test]
fn syntax_errors_are_located() {
    let (line, _, _) = err("[project]\nname = \n");
    assert_eq!(line, 2);
}

#[test]
fn a_sync_may_not_write_a_field_the_destination_owns() {
    // SAFETY of set_var: this variable is private to this test.
    unsafe { std::env::set_var("LOCKSTEP_TEST_OWN_TOKEN", "t") };
    let text = r#"
[destinations.hubspot]
kind = "hubspot"
token = "${LOCKSTEP_TEST_OWN_TOKEN}"

[syncs.contacts]
model = "crm_profiles"
destination = "hubspot"
object = "contacts"
key = { model = "email", destination = "email" }
fields = { lifecyclestage = "stage" }

[ownership]
"hubspot.contacts.lifecyclestage" = "hubspot"
"#;
    let (line, key, msg) = err(text);
    assert_eq!(key, "syncs.contacts.fields.lifecyclestage");
    assert_eq!(line, 11);
    assert!(msg.contains("owned by hubspot"), "{msg}");
}

#[test]
fn two_syncs_may_not_write_one_field() {
    unsafe { std::env::set_var("LOCKSTEP_TEST_TWO_TOKEN", "t") };
    let text = r#"
[destinations.hubspot]
kind = "hubspot"
token = "${LOCKSTEP_TEST_TWO_TOKEN}"

[syncs.a]
model = "m"
destination = "hubspot"
object = "contacts"
key = { model = "email", destination = "email" }
fields = { total_spent = "x" }

[syncs.b]
model = "m2"
destination = "hubspot"
object = "contacts"
key = { model = "email", destination = "email" }
fields = { total_spent = "y" }
"#;
    let (_, key, msg) = err(text);
    assert_eq!(key, "syncs.b.fields.total_spent");
    assert!(msg.contains("already written by sync a"), "{msg}");
}

#[test]
fn sync_to_an_undefined_destination_fails() {
    let text = "[syncs.a]\nmodel = \"m\"\ndestination = \"nowhere\"\nobject = \"contacts\"\nkey = { model = \"e\", destination = \"email\" }\n";
    let (line, key, _) = err(text);
    assert_eq!((line, key.as_str()), (3, "syncs.a.destination"));
}

#[test]
fn bad_cron_is_located() {
    let (line, key, _) = err("[schedules.n]\ncron = \"whenever\"\nrun = [\"extract\"]\n");
    assert_eq!((line, key.as_str()), (2, "schedules.n.cron"));
}

#[test]
fn the_init_template_loads() {
    let c = parse(
        crate::cli::init_template(),
        "lockstep.toml",
        Path::new("/p"),
    )
    .unwrap();
    assert_eq!(c.project.name, "my-store");
}
