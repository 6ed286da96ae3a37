//! Completes the generated OpenAPI document with what every route shares,
//! so that each handler's annotation says only what is its own: the error
//! answers common to all `/v1` routes, the role each operation needs, the
//! multipart and raw-image forms of the bodies that carry images (derived
//! from the JSON schema, one definition per request), and the
//! `x-request-id` header of every response.

use serde_json::{Map, Value, json};

use crate::input::IMAGE_FIELDS;

/// Error answers every `/v1` route can give, by status.
const V1_ERRORS: [(&str, &str); 4] = [
    (
        "400",
        "`bad_request` or `invalid_json`: a malformed request (an unknown or mistyped parameter, a parameter given twice, JSON that does not parse, a bad path segment)",
    ),
    (
        "401",
        "`unauthenticated`: no API key, or an unknown or revoked one",
    ),
    (
        "500",
        "`internal`: a fault of the server (the cause is in its log), or `damaged_sample`: a stored sample failed its checksum",
    ),
    (
        "503",
        "`overloaded` (with `Retry-After`): the inference queue is full; `timeout`: the request took longer than the server's limit; `backend_unavailable`: the gallery's database cannot be reached",
    ),
];

/// Error answers of routes that take a body.
const BODY_ERRORS: [(&str, &str); 2] = [
    (
        "413",
        "`payload_too_large`: the body is over the server's limit",
    ),
    (
        "415",
        "`unsupported_media_type`: the body is not JSON, multipart/form-data or an image",
    ),
];

/// Completes `doc` (the serialised utoipa document) in place.
pub fn complete(doc: &mut Value) {
    let mut forms = Map::new();
    let schemas = doc["components"]["schemas"].clone();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            if path.starts_with("/v1/") {
                complete_v1(operation);
            }
            if let Some(name) = json_body_schema(operation)
                && let Some(schema) = schemas.get(&name)
            {
                add_image_forms(operation, &name, schema, &mut forms);
            }
            for response in operation["responses"]
                .as_object_mut()
                .into_iter()
                .flat_map(|r| r.values_mut())
            {
                response["headers"]["x-request-id"] = json!({
                    "description": "The request's id (the client's own `x-request-id` when it sent a usable one); the server's log names it",
                    "schema": {"type": "string"},
                });
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(forms);
    }
    doc["components"]["schemas"]["ErrorBody"]["example"] = json!({
        "error": {"code": "not_found", "message": "no person 'alice' in collection 'staff'"}
    });
}

/// The role in the operation's security requirement, the 403 it implies,
/// and the answers every `/v1` route shares.
fn complete_v1(operation: &mut Value) {
    let role = operation["security"][0]["api_key"][0]
        .as_str()
        .unwrap_or("reader")
        .to_string();
    let description = operation["description"].as_str().unwrap_or("").to_string();
    operation["description"] = Value::String(
        format!("{description}\n\nNeeds an API key with the **{role}** role or a stronger one.")
            .trim_start()
            .to_string(),
    );
    let mut errors: Vec<(&str, String)> = V1_ERRORS
        .iter()
        .map(|(status, text)| (*status, text.to_string()))
        .collect();
    if role != "reader" {
        errors.push((
            "403",
            format!("`forbidden`: the key's role is weaker than {role}"),
        ));
    }
    if operation.get("requestBody").is_some() {
        errors.extend(BODY_ERRORS.iter().map(|(s, t)| (*s, t.to_string())));
    }
    let responses = &mut operation["responses"];
    for (status, text) in errors {
        if responses.get(status).is_none() {
            responses[status] = error_response(&text);
        }
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    })
}

/// The name of the component schema of the operation's JSON body.
fn json_body_schema(operation: &Value) -> Option<String> {
    operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()?
        .strip_prefix("#/components/schemas/")
        .map(str::to_string)
}

/// For a JSON body with image fields: the same request as
/// multipart/form-data (images as files, lists as JSON text) and, when it
/// has the one `image`, as the raw image with its other scalar parameters
/// in the query string.
fn add_image_forms(
    operation: &mut Value,
    name: &str,
    schema: &Value,
    forms: &mut Map<String, Value>,
) {
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    if !IMAGE_FIELDS.iter().any(|f| properties.contains_key(*f)) {
        return;
    }
    let mut form = schema.clone();
    form.as_object_mut().map(|f| f.remove("example"));
    for (field, property) in form["properties"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.iter_mut())
    {
        let description = property["description"].clone();
        if IMAGE_FIELDS.contains(&field.as_str()) {
            *property = json!({"type": "string", "format": "binary", "description": "The image file (JPEG, PNG, WebP, BMP, TIFF or GIF)."});
        } else if is_structured(property) {
            *property = json!({"type": "string", "description": format!("{} As JSON text.", description.as_str().unwrap_or(""))});
        }
    }
    let form_name = format!("{}Form", name.trim_end_matches("Request"));
    forms.insert(form_name.clone(), form);
    let content = &mut operation["requestBody"]["content"];
    content["multipart/form-data"] =
        json!({"schema": {"$ref": format!("#/components/schemas/{form_name}")}});
    if !properties.contains_key("image") || properties.contains_key("image1") {
        return;
    }
    let raw = json!({"schema": {"type": "string", "format": "binary"}});
    content["application/octet-stream"] = raw.clone();
    content["image/*"] = raw;
    let parameters = operation["parameters"].as_array_mut().map(std::mem::take);
    let mut parameters = parameters.unwrap_or_default();
    for (field, property) in properties {
        if IMAGE_FIELDS.contains(&field.as_str()) || is_structured(property) {
            continue;
        }
        let mut property = property.clone();
        let property_object = property.as_object_mut();
        // No default here: generated clients would send it in the query
        // with every call, clashing with the same field in a body.
        let description = property_object.and_then(|p| {
            p.remove("default");
            p.remove("description")
        });
        let description = description.unwrap_or(Value::Null);
        parameters.push(json!({
            "name": field,
            "in": "query",
            "required": false,
            "description": format!(
                "{} In the query string with a raw image body (accepted with every body form; give each parameter once).",
                description.as_str().unwrap_or("")
            ).trim_start(),
            "schema": property,
        }));
    }
    operation["parameters"] = Value::Array(parameters);
}

/// A list or object property (not a query-string scalar).
fn is_structured(property: &Value) -> bool {
    let types = match &property["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return property.get("$ref").is_some() || property.get("oneOf").is_some(),
    };
    types.iter().any(|t| *t == "array" || *t == "object")
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_bodies_get_every_form_and_v1_routes_their_errors() {
        let doc = crate::document();
        let identify = &doc["paths"]["/v1/collections/{collection}/identify"]["post"];
        let content = &identify["requestBody"]["content"];
        for form in [
            "application/json",
            "multipart/form-data",
            "image/*",
            "application/octet-stream",
        ] {
            assert!(content[form].is_object(), "identify lacks {form}");
        }
        let form = &doc["components"]["schemas"]["SearchForm"];
        assert_eq!(form["properties"]["image"]["format"], "binary");
        assert_eq!(form["properties"]["embedding"]["type"], "string");
        let query: Vec<&str> = identify["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(query, ["threshold", "top_k"]);
        for status in ["400", "401", "413", "415", "500", "503"] {
            assert!(
                identify["responses"][status].is_object(),
                "identify lacks {status}"
            );
        }
        // A reader route has no 403; a writer route has.
        assert!(identify["responses"]["403"].is_null());
        let enroll = &doc["paths"]["/v1/collections/{collection}/persons/{person}/faces"]["post"];
        assert!(enroll["responses"]["403"].is_object());
        // Compare has two images: multipart, but no raw form.
        let compare = &doc["paths"]["/v1/compare"]["post"]["requestBody"]["content"];
        assert!(compare["multipart/form-data"].is_object());
        assert!(compare["image/*"].is_null());
        // Public routes have no key errors.
        assert!(doc["paths"]["/healthz"]["get"]["responses"]["401"].is_null());
    }
}
