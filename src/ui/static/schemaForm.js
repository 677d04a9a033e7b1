// A form generated from a job type's params JSON Schema. Values are kept as the JSON the
// server validates, so the issues it returns (per path) are shown next to their fields.
import { html } from "./html.js"

/**
 * A value a field starts with: nothing for optional fields, and for required ones a value only
 * where a form has an obvious one (a list, a checkbox, a choice). A required text or number
 * starts missing, so an untouched form is refused for it rather than dispatching `""`.
 */
export const initialValue = (given) => {
  const schema = plain(given)
  if (schema?.type === "object") {
    const out = {}
    for (const k of schema.required ?? []) out[k] = initialValue(schema.properties?.[k])
    return out
  }
  if (schema?.type === "array") return []
  if (schema?.type === "boolean") return false
  if (Array.isArray(schema?.enum)) return schema.enum[0]
  return undefined
}

const set = (obj, key, value) => {
  const next = { ...obj }
  if (value === undefined) delete next[key]
  else next[key] = value
  return next
}

/**
 * The field a schema is edited with. Effect's JSON Schemas write a number as
 * `anyOf: [{ type: "number" }, { type: "string", enum: ["Infinity", …] }]` and an optional
 * nullable as a further `{ type: "null" }`: such a union is edited as its first plain type.
 */
const plain = (schema) => {
  if (!Array.isArray(schema?.anyOf)) return schema
  const variants = schema.anyOf.filter((v) => v?.type !== "null")
  return (
    variants.find((v) => v?.type === "number" || v?.type === "integer") ??
    variants.find((v) => v?.type && !Array.isArray(v.enum)) ??
    schema
  )
}

const issuesAt = (issues, path) => issues.filter((i) => i.path === path)

const Field = ({ name, path, schema: given, required, value, onChange, issues }) => {
  const schema = plain(given)
  const mine = issuesAt(issues, path)
  const id = "f-" + path.replace(/[^\w]/g, "_")
  const hint = [schema?.type, required ? "required" : "optional"].filter(Boolean).join(", ")
  let input
  if (schema?.type === "object" && schema.properties) {
    return html`<fieldset class=${mine.length ? "field bad" : "field"}><legend>${name} <span class="hint">${hint}</span></legend>
      ${Object.entries(schema.properties).map(
        ([
          k,
          s,
        ]) => html`<${Field} name=${k} path=${path + "." + k} schema=${s} required=${(schema.required ?? []).includes(k)}
        value=${value?.[k]} onChange=${(v) => onChange(set(value ?? {}, k, v))} issues=${issues} />`,
      )}
      ${mine.map((i) => html`<div class="issue">${i.message}</div>`)}</fieldset>`
  }
  if (Array.isArray(schema?.enum)) {
    input = html`<select id=${id} name=${path} onChange=${(e) => onChange(e.target.value === "" ? undefined : schema.enum[Number(e.target.value)])}>
      ${required ? null : html`<option value="">(none)</option>`}
      ${schema.enum.map((v, i) => html`<option value=${i} selected=${v === value}>${String(v)}</option>`)}</select>`
  } else if (schema?.type === "boolean") {
    input = html`<input id=${id} name=${path} type="checkbox" checked=${value === true} onChange=${(e) => onChange(e.target.checked)} />`
  } else if (schema?.type === "integer" || schema?.type === "number") {
    input = html`<input id=${id} name=${path} type="text" inputmode="decimal" value=${value ?? ""}
      onInput=${(e) => onChange(e.target.value === "" ? undefined : Number.isNaN(Number(e.target.value)) ? e.target.value : Number(e.target.value))} />`
  } else if (schema?.type === "array" && schema.items?.type === "string") {
    input = html`<textarea id=${id} name=${path} rows="3" placeholder="one per line" value=${(value ?? []).join("\n")}
      onInput=${(e) => onChange(e.target.value === "" ? [] : e.target.value.split("\n"))} />`
  } else if (schema?.type === "string") {
    // An emptied text field is a missing key (a required one is then reported as such).
    input = html`<input id=${id} name=${path} type="text" value=${value ?? ""} aria-required=${required ? "true" : "false"} onInput=${(e) => onChange(e.target.value === "" ? undefined : e.target.value)} />`
  } else {
    input = html`<textarea id=${id} name=${path} rows="3" placeholder="JSON" value=${value === undefined ? "" : JSON.stringify(value)}
      onInput=${(e) => {
        try {
          onChange(e.target.value === "" ? undefined : JSON.parse(e.target.value))
        } catch {
          onChange(e.target.value)
        }
      }} />`
  }
  return html`<div class=${mine.length ? "field bad" : "field"} data-path=${path}>
    <label for=${id}>${name} <span class="hint">${hint}</span></label>${input}
    ${mine.map((i) => html`<div class="issue">${i.message}</div>`)}</div>`
}

/** The fields of an object schema; the top level's paths are its keys (`location`, `options.verify`). */
export const SchemaForm = ({ schema, value, onChange, issues }) => {
  if (schema?.type !== "object" || !schema.properties)
    return html`<p class="muted">This type's params have no fields; edit them as JSON below.</p>`
  return html`<div>${Object.entries(schema.properties).map(
    ([k, s]) => html`<${Field} name=${k} path=${k} schema=${s}
    required=${(schema.required ?? []).includes(k)} value=${value?.[k]} onChange=${(v) => onChange(set(value ?? {}, k, v))} issues=${issues} />`,
  )}</div>`
}

/**
 * An events schema's variants by their `type` (a union's members, or the one struct), each with
 * the schema of its other fields; null when a variant has no literal `type` to choose it by.
 */
export const eventVariants = (schema) => {
  const variants = Array.isArray(schema?.anyOf) ? schema.anyOf : [schema]
  const types = variants.map((v) => v?.properties?.type?.enum)
  if (!types.every((t) => Array.isArray(t) && t.length === 1 && typeof t[0] === "string")) return null
  return variants.map((v, i) => {
    const { type: _, ...properties } = v.properties
    return {
      type: types[i][0],
      schema: v,
      fields: { ...v, properties, required: (v.required ?? []).filter((k) => k !== "type") },
    }
  })
}
