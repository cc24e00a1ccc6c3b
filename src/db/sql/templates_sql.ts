import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const findTemplatesQuery = `-- name: FindTemplates :many

SELECT t.id, t.name, t.active_version_id, o.name AS organization_name
FROM templates t
JOIN organizations o ON o.id = t.organization_id
WHERE NOT t.deleted
  AND (
    t.id::text = lower($1::text)
    OR lower(t.name) = lower($1::text)
    OR lower(o.name || '/' || t.name) = lower($1::text)
  )
ORDER BY o.name, t.id`;

export interface FindTemplatesArgs {
    ref: string;
}

export interface FindTemplatesRow {
    id: string;
    name: string;
    activeVersionId: string;
    organizationName: string;
}

export async function findTemplates(client: Client, args: FindTemplatesArgs): Promise<FindTemplatesRow[]> {
    const result = await client.query({
        text: findTemplatesQuery,
        values: [args.ref],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            id: row[0],
            name: row[1],
            activeVersionId: row[2],
            organizationName: row[3]
        };
    });
}

export const findTemplateVersionsQuery = `-- name: FindTemplateVersions :many
SELECT tv.id, tv.name, tv.created_at
FROM template_versions tv
WHERE tv.template_id = $1::uuid
  AND (tv.id::text = lower($2::text) OR tv.name = $2::text)
ORDER BY tv.created_at DESC, tv.id`;

export interface FindTemplateVersionsArgs {
    templateId: string;
    ref: string;
}

export interface FindTemplateVersionsRow {
    id: string;
    name: string;
    createdAt: Date;
}

export async function findTemplateVersions(client: Client, args: FindTemplateVersionsArgs): Promise<FindTemplateVersionsRow[]> {
    const result = await client.query({
        text: findTemplateVersionsQuery,
        values: [args.templateId, args.ref],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            id: row[0],
            name: row[1],
            createdAt: row[2]
        };
    });
}

export const promoteTemplateVersionQuery = `-- name: PromoteTemplateVersion :one
UPDATE templates t
SET active_version_id = tv.id, updated_at = now()
FROM template_versions tv
WHERE t.id = $1::uuid
  AND tv.id = $2::uuid
  AND tv.template_id = t.id
  AND NOT t.deleted
RETURNING t.id, tv.id AS template_version_id, tv.name AS template_version_name`;

export interface PromoteTemplateVersionArgs {
    templateId: string;
    templateVersionId: string;
}

export interface PromoteTemplateVersionRow {
    id: string;
    templateVersionId: string;
    templateVersionName: string;
}

export async function promoteTemplateVersion(client: Client, args: PromoteTemplateVersionArgs): Promise<PromoteTemplateVersionRow | null> {
    const result = await client.query({
        text: promoteTemplateVersionQuery,
        values: [args.templateId, args.templateVersionId],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        id: row[0],
        templateVersionId: row[1],
        templateVersionName: row[2]
    };
}

export const invalidateActiveVersionPresetsQuery = `-- name: InvalidateActiveVersionPresets :many
UPDATE template_version_presets p
SET last_invalidated_at = now()
FROM templates t
JOIN template_versions tv ON tv.id = t.active_version_id AND tv.template_id = t.id
WHERE t.id = $1::uuid
  AND p.template_version_id = tv.id
RETURNING p.id, p.name, p.desired_instances`;

export interface InvalidateActiveVersionPresetsArgs {
    templateId: string;
}

export interface InvalidateActiveVersionPresetsRow {
    id: string;
    name: string;
    desiredInstances: number | null;
}

export async function invalidateActiveVersionPresets(client: Client, args: InvalidateActiveVersionPresetsArgs): Promise<InvalidateActiveVersionPresetsRow[]> {
    const result = await client.query({
        text: invalidateActiveVersionPresetsQuery,
        values: [args.templateId],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            id: row[0],
            name: row[1],
            desiredInstances: row[2]
        };
    });
}

export const countActivePresetsByStatusQuery = `-- name: CountActivePresetsByStatus :many
SELECT p.prebuild_status, count(*)::int AS presets
FROM template_version_presets p
JOIN template_versions tv ON tv.id = p.template_version_id
JOIN templates t ON t.id = tv.template_id AND t.active_version_id = tv.id
WHERE p.desired_instances IS NOT NULL AND NOT t.deleted AND t.deprecated = ''
GROUP BY p.prebuild_status
ORDER BY p.prebuild_status`;

export interface CountActivePresetsByStatusRow {
    prebuildStatus: string;
    presets: number;
}

export async function countActivePresetsByStatus(client: Client): Promise<CountActivePresetsByStatusRow[]> {
    const result = await client.query({
        text: countActivePresetsByStatusQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            prebuildStatus: row[0],
            presets: row[1]
        };
    });
}

export const listUnhealthyActivePresetsQuery = `-- name: ListUnhealthyActivePresets :many
SELECT o.name AS organization_name, t.name AS template_name, tv.name AS template_version_name,
       p.name AS preset_name, p.prebuild_status
FROM template_version_presets p
JOIN template_versions tv ON tv.id = p.template_version_id
JOIN templates t ON t.id = tv.template_id AND t.active_version_id = tv.id
JOIN organizations o ON o.id = t.organization_id
WHERE p.desired_instances IS NOT NULL AND NOT t.deleted AND t.deprecated = ''
  AND p.prebuild_status <> 'healthy'
ORDER BY o.name, t.name, p.name`;

export interface ListUnhealthyActivePresetsRow {
    organizationName: string;
    templateName: string;
    templateVersionName: string;
    presetName: string;
    prebuildStatus: string;
}

export async function listUnhealthyActivePresets(client: Client): Promise<ListUnhealthyActivePresetsRow[]> {
    const result = await client.query({
        text: listUnhealthyActivePresetsQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            organizationName: row[0],
            templateName: row[1],
            templateVersionName: row[2],
            presetName: row[3],
            prebuildStatus: row[4]
        };
    });
}

