//! `POST /crm/v3/objects/contacts/batch/{read,create,update,upsert,archive}`.
//!
//! Every write is planned first (resolve the target, validate properties, check
//! unique values against the store *and* the other inputs of the batch), then the
//! successful plans are applied. The outcome rules:
//!
//! - More than 100 inputs, or two inputs naming the same record → 400 for the
//!   whole batch ("Duplicate IDs found in batch input"), nothing written.
//! - `update` and `upsert`: failing inputs are reported per item in a 207
//!   (`errors[]` of `StandardError`, each naming the input in `id` and
//!   `context.ids`), the others are applied.
//! - `create` is all-or-nothing (400, or 409 for an existing unique value) unless
//!   every input carries a distinct `objectWriteTraceId`, HubSpot's opt-in to 207.
//! - **Email as `idProperty`.** HubSpot documents that "partial upserts are not
//!   supported when using email as the idProperty". The sandbox reads that as:
//!   an upsert batch in which any input uses `idProperty: "email"` is atomic. If
//!   any input fails, the batch answers 400 `VALIDATION_ERROR` listing every
//!   failing input in `errors[]` and writes nothing, so a client must split the
//!   batch to isolate the bad row (or upsert by another unique property, e.g.
//!   `lockstep_golden_id`, to get per-item 207s).

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};

use super::errors::{ApiError, ErrorDetail};
use super::properties::{fmt_datetime, issues_to_error};
use super::store::{ALWAYS_PROPS, DEFAULT_READ_PROPS, Store};

/// Most inputs one batch call accepts.
pub const MAX_INPUTS: usize = 100;

/// A batch outcome: status and body.
pub type Outcome = Result<(StatusCode, Value), ApiError>;

enum Plan {
    Create(BTreeMap<String, String>),
    Update(u64, BTreeMap<String, String>),
}

/// One planned input: its label (the id it was addressed by) and what to do.
struct Planned {
    label: Option<String>,
    plan: Result<Plan, ApiError>,
}

fn inputs(body: &Value) -> Result<&Vec<Value>, ApiError> {
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::validation("Some required fields were not set: [inputs]"))?;
    if inputs.len() > MAX_INPUTS {
        return Err(ApiError::validation(format!(
            "Too many inputs: {} were provided but the limit is {MAX_INPUTS} inputs per batch.",
            inputs.len()
        ))
        .with_context("limit", vec![MAX_INPUTS.to_string()]));
    }
    Ok(inputs)
}

fn id_of(input: &Value) -> Option<String> {
    match input.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn check_duplicates<'a>(ids: impl Iterator<Item = &'a (String, String)>) -> Result<(), ApiError> {
    let mut seen = HashMap::new();
    let mut dups = Vec::new();
    for key in ids {
        let n = seen.entry(key).or_insert(0);
        *n += 1;
        if *n == 2 {
            dups.push(key.1.clone());
        }
    }
    if dups.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "Duplicate IDs found in batch input: [{}]. IDs must be unique",
            dups.join(", ")
        ))
        .with_context("ids", dups))
    }
}

fn requested_props(body: &Value, default: &[&str]) -> Vec<String> {
    match body.get("properties").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => default.iter().map(|s| s.to_string()).collect(),
    }
}

/// Validates properties and checks unique values against the store and the
/// values already claimed by earlier inputs of the same batch.
fn plan_write(
    store: &Store,
    claims: &mut HashMap<(String, String), usize>,
    index: usize,
    target: Option<u64>,
    props: &Value,
) -> Result<Plan, ApiError> {
    let props = props
        .as_object()
        .ok_or_else(|| ApiError::validation("Some required fields were not set: [properties]"))?;
    let props = store
        .schema
        .validate_write(props)
        .map_err(|i| issues_to_error(&i))?;
    if let Some((prop, owner)) = store.unique_conflict(&props, target) {
        return Err(conflict(&prop, &props[&prop], owner));
    }
    for (k, v) in &props {
        if v.is_empty() || !store.schema.get(k).is_some_and(|d| d.unique) {
            continue;
        }
        let key = store.unique_key(k, v);
        if let Some(other) = claims.get(&key).filter(|o| **o != index) {
            return Err(ApiError::conflict(format!(
                "Input {index} sets {k} to '{v}', which input {other} of this batch also sets; unique values must differ"
            )));
        }
        claims.insert(key, index);
    }
    Ok(match target {
        Some(id) => Plan::Update(id, props),
        None => Plan::Create(props),
    })
}

fn conflict(prop: &str, value: &str, owner: u64) -> ApiError {
    let msg = if prop == "email" {
        format!("Contact already exists. Existing ID: {owner}")
    } else {
        format!(
            "A contact with the unique value '{value}' for property {prop} already exists. Existing ID: {owner}"
        )
    };
    ApiError::conflict(msg).with_context("existingId", vec![owner.to_string()])
}

fn not_found(ids: Vec<String>) -> ApiError {
    ApiError::not_found(
        "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
    )
    .with_context("ids", ids)
}

/// Applies the successful plans and renders a batch response.
fn finish(
    store: &mut Store,
    planned: Vec<Planned>,
    ok_status: StatusCode,
    with_new_flag: bool,
    started: String,
) -> (StatusCode, Value) {
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for p in planned {
        match p.plan {
            Ok(Plan::Create(props)) => {
                let names: Vec<String> = props.keys().cloned().collect();
                let id = store.create(props);
                results.push(result_json(
                    store,
                    id,
                    &names,
                    with_new_flag.then_some(true),
                ));
            }
            Ok(Plan::Update(id, props)) => {
                let names: Vec<String> = props.keys().cloned().collect();
                store.update(id, &props);
                results.push(result_json(
                    store,
                    id,
                    &names,
                    with_new_flag.then_some(false),
                ));
            }
            Err(e) => {
                let e = match &p.label {
                    Some(l) if !e.context.contains_key("ids") => {
                        e.with_context("ids", vec![l.clone()])
                    }
                    _ => e,
                };
                errors.push(e.standard_error(p.label.as_deref()));
            }
        }
    }
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": fmt_datetime(Utc::now()),
    });
    if errors.is_empty() {
        (ok_status, body)
    } else {
        body["numErrors"] = json!(errors.len());
        body["errors"] = Value::Array(errors);
        (StatusCode::MULTI_STATUS, body)
    }
}

fn result_json(store: &Store, id: u64, names: &[String], new: Option<bool>) -> Value {
    let names: Vec<String> = names
        .iter()
        .filter(|n| !ALWAYS_PROPS.contains(&n.as_str()))
        .cloned()
        .collect();
    let mut v = store.contact_json(id, &names);
    if let Some(new) = new {
        v["new"] = json!(new);
    }
    v
}

/// `batch/read`.
pub fn read(store: &Store, body: &Value) -> Outcome {
    let started = fmt_datetime(Utc::now());
    let list = inputs(body)?;
    let id_property = body.get("idProperty").and_then(Value::as_str);
    let props = requested_props(body, DEFAULT_READ_PROPS);
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in list {
        let Some(label) = id_of(input) else {
            missing.push(String::new());
            continue;
        };
        match store.resolve(id_property, &label)? {
            Some(id) => results.push(store.contact_json(id, &props)),
            None => missing.push(label),
        }
    }
    let mut out = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": fmt_datetime(Utc::now()),
    });
    if missing.is_empty() {
        return Ok((StatusCode::OK, out));
    }
    out["numErrors"] = json!(1);
    out["errors"] = json!([not_found(missing).standard_error(None)]);
    Ok((StatusCode::MULTI_STATUS, out))
}

/// `batch/create`.
pub fn create(store: &mut Store, body: &Value) -> Outcome {
    let started = fmt_datetime(Utc::now());
    let list = inputs(body)?;
    let traces: Vec<&str> = list
        .iter()
        .filter_map(|i| i.get("objectWriteTraceId").and_then(Value::as_str))
        .collect();
    let mut distinct = traces.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let multi_status = !list.is_empty() && distinct.len() == list.len();
    let mut claims = HashMap::new();
    let planned: Vec<Planned> = list
        .iter()
        .enumerate()
        .map(|(i, input)| Planned {
            label: input
                .get("objectWriteTraceId")
                .and_then(Value::as_str)
                .map(str::to_string),
            plan: plan_write(
                store,
                &mut claims,
                i,
                None,
                input.get("properties").unwrap_or(&Value::Null),
            ),
        })
        .collect();
    if !multi_status && let Some(err) = planned.iter().find_map(|p| p.plan.as_ref().err()) {
        return Err(err.clone());
    }
    Ok(finish(store, planned, StatusCode::CREATED, false, started))
}

/// `batch/update`.
pub fn update(store: &mut Store, body: &Value) -> Outcome {
    let started = fmt_datetime(Utc::now());
    let list = inputs(body)?;
    let keys: Vec<(String, String)> = list
        .iter()
        .map(|i| {
            let prop = i
                .get("idProperty")
                .and_then(Value::as_str)
                .unwrap_or("hs_object_id");
            let id = id_of(i).unwrap_or_default();
            store.unique_key(prop, &id)
        })
        .collect();
    check_duplicates(keys.iter())?;
    let mut claims = HashMap::new();
    let mut planned = Vec::new();
    for (i, input) in list.iter().enumerate() {
        let label = id_of(input);
        let id_property = input.get("idProperty").and_then(Value::as_str);
        let plan = match &label {
            None => Err(ApiError::validation(
                "Some required fields were not set: [id]",
            )),
            Some(l) => match store.resolve(id_property, l) {
                Err(e) => Err(e),
                Ok(None) => Err(not_found(vec![l.clone()])),
                Ok(Some(id)) => plan_write(
                    store,
                    &mut claims,
                    i,
                    Some(id),
                    input.get("properties").unwrap_or(&Value::Null),
                ),
            },
        };
        planned.push(Planned { label, plan });
    }
    Ok(finish(store, planned, StatusCode::OK, false, started))
}

/// `batch/upsert` (see the module comment for the email rule).
pub fn upsert(store: &mut Store, body: &Value) -> Outcome {
    let started = fmt_datetime(Utc::now());
    let list = inputs(body)?;
    let keys: Vec<(String, String)> = list
        .iter()
        .map(|i| {
            let prop = i.get("idProperty").and_then(Value::as_str).unwrap_or("");
            store.unique_key(prop, &id_of(i).unwrap_or_default())
        })
        .collect();
    check_duplicates(keys.iter().filter(|(p, v)| !p.is_empty() && !v.is_empty()))?;
    let mut by_email = false;
    let mut claims = HashMap::new();
    let mut planned = Vec::new();
    for (i, input) in list.iter().enumerate() {
        let label = id_of(input);
        let id_property = input.get("idProperty").and_then(Value::as_str);
        by_email |= id_property == Some("email");
        let plan = plan_upsert(store, &mut claims, i, id_property, label.as_deref(), input);
        planned.push(Planned { label, plan });
    }
    let failed: Vec<&Planned> = planned.iter().filter(|p| p.plan.is_err()).collect();
    if by_email && !failed.is_empty() {
        let mut err = ApiError::validation(format!(
            "Partial upserts are not supported when using email as idProperty: {} of {} inputs are invalid, so none were written.",
            failed.len(),
            list.len()
        ));
        for p in &failed {
            if let Err(e) = &p.plan {
                let label = p.label.clone().unwrap_or_default();
                err.errors.push(ErrorDetail {
                    message: e.message.clone(),
                    code: Some(e.category.to_string()),
                    context: BTreeMap::from([("ids".to_string(), vec![label.clone()])]),
                });
                err = err.with_context("ids", vec![label]);
            }
        }
        return Err(err);
    }
    Ok(finish(store, planned, StatusCode::OK, true, started))
}

fn plan_upsert(
    store: &Store,
    claims: &mut HashMap<(String, String), usize>,
    index: usize,
    id_property: Option<&str>,
    label: Option<&str>,
    input: &Value,
) -> Result<Plan, ApiError> {
    let id_property = id_property
        .ok_or_else(|| ApiError::validation("Some required fields were not set: [idProperty]"))?;
    let label =
        label.ok_or_else(|| ApiError::validation("Some required fields were not set: [id]"))?;
    if id_property == "hs_object_id" {
        return Err(ApiError::validation(
            "hs_object_id cannot be used as idProperty for upsert; use a unique property",
        ));
    }
    let target = store.resolve(Some(id_property), label)?;
    let mut props = input
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::validation("Some required fields were not set: [properties]"))?;
    if target.is_none() {
        // A created record carries its identifying value.
        props
            .entry(id_property.to_string())
            .or_insert_with(|| Value::String(label.to_string()));
    }
    if let Some(v) = props.get(id_property).and_then(Value::as_str)
        && store.unique_key(id_property, v) != store.unique_key(id_property, label)
    {
        return Err(ApiError::validation(format!(
            "The value of {id_property} in properties ('{v}') does not match the input id ('{label}')"
        )));
    }
    plan_write(store, claims, index, target, &Value::Object(props))
}

/// `batch/archive`: always 204, unknown ids are ignored.
pub fn archive(store: &mut Store, body: &Value) -> Result<StatusCode, ApiError> {
    let list = inputs(body)?;
    let ids: Vec<u64> = list
        .iter()
        .filter_map(id_of)
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for id in ids {
        store.archive(id);
    }
    Ok(StatusCode::NO_CONTENT)
}
