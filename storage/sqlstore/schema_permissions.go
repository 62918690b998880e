package sqlstore

// A user's own permissions (Django's user_permissions), migration
// 20261206000201. `latchkey users import` kept them in the profile
// attribute django_permissions before this column existed; the migration
// moves every such list into the column and out of the profile (and back
// on the way down), in one statement per dialect because their JSON
// functions differ.
func schemaUserPermissionsUp(pg bool) []string {
	move := `UPDATE users SET permissions = json_extract(profile, '$.django_permissions'),
			profile = json_remove(profile, '$.django_permissions')
		WHERE json_type(profile, '$.django_permissions') = 'array'`
	if pg {
		move = `UPDATE users SET permissions = profile->'django_permissions',
			profile = profile - 'django_permissions'
		WHERE jsonb_typeof(profile->'django_permissions') = 'array'`
	}
	return []string{`ALTER TABLE users ADD COLUMN IF NOT EXISTS permissions {{json}}`, move}
}

func schemaUserPermissionsDown(pg bool) []string {
	back := `UPDATE users SET profile = json_set(coalesce(profile, '{}'), '$.django_permissions', json(permissions))
		WHERE json_type(permissions) = 'array' AND json_array_length(permissions) > 0`
	if pg {
		back = `UPDATE users SET profile = coalesce(profile, '{}'::jsonb) || jsonb_build_object('django_permissions', permissions)
		WHERE jsonb_typeof(permissions) = 'array' AND jsonb_array_length(permissions) > 0`
	}
	return []string{back, `ALTER TABLE users DROP COLUMN IF EXISTS permissions`}
}
