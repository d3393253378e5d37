//! Functions models call: identity UDFs and stable connected components, the FX
//! daily forward fill, and project settings as SQL functions.

use super::*;

#[tokio::test]
async fn identity_udfs_and_stable_connected_components_in_models() {
    let pairs = |extra: &str| {
        format!(
            "SELECT 'shopify:' || CAST(id AS VARCHAR) AS a, 'email:' || canonical_email(email) AS b FROM raw_shop.customers\n\
             UNION ALL SELECT 'shopify:' || CAST(id AS VARCHAR), 'phone:' || e164(phone, 'US') FROM raw_shop.customers\n{extra}"
        )
    };
    let (_tmp, dir) = project_with(&[
        ("models/identity_pairs.sql", &pairs("")),
        (
            "models/golden.sql",
            "SELECT node, component_id, 'g_' || substr(md5(component_id), 1, 12) AS golden_id\nFROM connected_components('models.identity_pairs')",
        ),
    ]);
    let (project, wh) = open(&dir);
    let customers = |rows: &[(i64, Option<&str>, Option<&str>)]| {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("email", DataType::Utf8, true),
            Field::new("phone", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| r.2).collect::<StringArray>()),
            ],
        )
        .unwrap();
        (schema, batch)
    };
    let base: Vec<(i64, Option<&str>, Option<&str>)> = vec![
        (1, Some("Jane.Doe+shop@GMAIL.com "), None),
        (2, Some("janedoe@googlemail.com"), Some("(415) 555-2671")),
        (
            3,
            Some("abc@privaterelay.appleid.com"),
            Some("+1 415 555 2671"),
        ),
        (4, Some("bob@example.com"), Some("not a phone")),
        (5, None, None),
    ];
    let (schema, batch) = customers(&base);
    let raw = TableName::new("raw_shop", "customers").unwrap();
    wh.overwrite(&raw, schema, vec![batch]).await.unwrap();
    build(&project, &wh, &[]).await.unwrap();
    let golden = |rows: Vec<Vec<String>>| -> BTreeMap<String, (String, String)> {
        rows.into_iter()
            .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
            .collect()
    };
    let first = golden(
        rows(
            &wh,
            "SELECT node, component_id, golden_id FROM models.golden",
        )
        .await,
    );
    // Jane (1, 2) and the Apple relay address (3) share a phone: one person.
    for n in [
        "shopify:1",
        "shopify:2",
        "shopify:3",
        "email:janedoe@gmail.com",
        "phone:+14155552671",
    ] {
        assert_eq!(
            first[n].0, "email:abc@privaterelay.appleid.com",
            "{n}: {first:?}"
        );
    }
    assert_eq!(first["shopify:4"].0, "email:bob@example.com");
    assert_eq!(first["shopify:5"].0, "shopify:5");
    assert!(!first.contains_key("phone:not a phone"));

    // Add unrelated customers (including ids and emails that sort first): every
    // existing golden id is unchanged.
    let mut more = base.clone();
    more.extend([
        (0, Some("aaa@example.com"), Some("(212) 555-0100")),
        (6, Some("zed@example.com"), None),
    ]);
    let (schema, batch) = customers(&more);
    wh.overwrite(&raw, schema, vec![batch]).await.unwrap();
    build(&project, &wh, &[]).await.unwrap();
    let second = golden(
        rows(
            &wh,
            "SELECT node, component_id, golden_id FROM models.golden",
        )
        .await,
    );
    for (node, ids) in &first {
        assert_eq!(&second[node], ids, "{node}");
    }
    assert_eq!(second.len(), first.len() + 5);
}

#[tokio::test]
async fn fx_daily_forward_fills_weekends_for_an_equi_join() {
    let (_tmp, dir) = project_with(&[
        (
            "models/rates.sql",
            "SELECT CAST(d AS DATE) AS rate_date, c AS currency, CAST(r AS DECIMAL(12, 6)) AS rate\nFROM (VALUES ('2026-01-02', 'USD', '1.100000'), ('2026-01-05', 'USD', '1.200000')) AS t(d, c, r)",
        ),
        (
            "models/converted.sql",
            "SELECT o.day, CAST(o.amount * f.rate AS DECIMAL(18, 2)) AS amount_usd, f.rate AS fx_rate_used, f.rate_date AS fx_rate_date\n\
             FROM (SELECT CAST(d AS DATE) AS day, CAST(a AS DECIMAL(18, 2)) AS amount FROM (VALUES ('2026-01-03', '10.00'), ('2026-01-05', '10.00')) AS t(d, a)) o\n\
             JOIN fx_daily('models.rates', '2026-01-10') f ON (f.date = o.day) AND (f.currency = 'USD')",
        ),
    ]);
    let (project, wh) = open(&dir);
    build(&project, &wh, &[]).await.unwrap();
    let got = rows(
        &wh,
        "SELECT day, amount_usd, fx_rate_used, fx_rate_date FROM models.converted ORDER BY day",
    )
    .await;
    assert_eq!(
        got,
        [
            ["2026-01-03", "11.00", "1.100000", "2026-01-02"],
            ["2026-01-05", "12.00", "1.200000", "2026-01-05"],
        ]
    );
    let set = model::load(&project, &wh).await.unwrap();
    assert_eq!(model::describe::compile(&set)[1].depends_on, ["rates"]);
}

#[tokio::test]
async fn project_settings_are_sql_functions() {
    let (_tmp, dir) = support::project(&format!(
        "[project]\nreporting_currency = \"EUR\"\nsource_priority = [\"hubspot\", \"shopify\"]\n{TOML}"
    ));
    write(
        &dir,
        "models/s.sql",
        "SELECT reporting_currency() AS currency, source_priority('shopify') AS shopify, source_priority('klaviyo') AS other",
    );
    let (project, wh) = open(&dir);
    build(&project, &wh, &[]).await.unwrap();
    assert_eq!(
        rows(&wh, "SELECT * FROM models.s").await,
        [["EUR", "2", "3"]]
    );
}
