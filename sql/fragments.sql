-- Fragments shared by several files' queries (repo/queries.py pastes them where a query says {{name}}).

-- The access rule, decided in one place. A media file aliased `f` is reachable by the acting user when it is their
-- own, when it is shared with them (directly, through a group they are in, or through a collection it is in) at
-- a role of at least the rank the fragment names, or when an admin acts in the explicit "all files" view
-- (repo.rows.Actor.sees_all). shared_files() (migration 0013) is the same function the row-level security
-- policies use. Ranks: viewer 1, commenter 2, editor 3; deleting, sharing and public links are the owner's.

-- fragment: file_readable
(f.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean
 OR f.id IN (SELECT a.media_file_id FROM shared_files(%(actor_id)s) a))

-- fragment: file_commentable
(f.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean
 OR f.id IN (SELECT a.media_file_id FROM shared_files(%(actor_id)s) a WHERE a.rank >= 2))

-- fragment: file_editable
(f.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean
 OR f.id IN (SELECT a.media_file_id FROM shared_files(%(actor_id)s) a WHERE a.rank >= 3))

-- fragment: file_owned
(f.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean)

-- A collection aliased `c` is readable by its owner and by whoever it is shared with (a share row naming it, to the
-- user directly or to a group they are in); its members' files reach them through shared_files(). Only the owner
-- (or an admin in the all-files view) renames, deletes or changes its members: {{collection_owned}}.

-- fragment: collection_readable
(c.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean
 OR c.id IN (SELECT s.collection_id FROM shares s
             WHERE s.collection_id IS NOT NULL
               AND (s.user_id = %(actor_id)s
                    OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = %(actor_id)s))))

-- fragment: collection_owned
(c.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean)

-- A speaker profile aliased `p` is readable by its owner and by the members of a group (or the user) it is shared
-- with, so a team recognises the same voices; only the owner edits, merges or deletes it: {{profile_owned}}.

-- fragment: profile_readable
(p.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean
 OR p.id IN (SELECT s.speaker_profile_id FROM shares s
             WHERE s.speaker_profile_id IS NOT NULL
               AND (s.user_id = %(actor_id)s
                    OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = %(actor_id)s))))

-- fragment: profile_owned
(p.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean)

-- fragment: library_filter
-- The library's filters (repo.library.LibraryFilter) on a media file aliased `f`, scoped to the acting user: the file
-- list (media_files.list_page) and search (search.search) filter alike. Conditions joined by AND, each a no-op when its
-- parameter is NULL.
(%(statuses)s::text[] IS NULL OR f.status = ANY(%(statuses)s::text[]))
AND (%(tags)s::text[] IS NULL OR (
      SELECT count(*) FROM file_tags ft JOIN tags t ON t.id = ft.tag_id
      WHERE ft.media_file_id = f.id AND t.name = ANY(%(tags)s::text[]))
    >= CASE WHEN %(tags_any)s::boolean THEN 1 ELSE cardinality(%(tags)s::text[]) END)
AND (%(collection)s::uuid IS NULL OR EXISTS (
      SELECT 1 FROM collection_members cm JOIN collections c ON c.id = cm.collection_id
      WHERE cm.media_file_id = f.id AND c.uuid = %(collection)s::uuid AND {{collection_readable}}))
AND (%(speaker)s::text IS NULL OR EXISTS (
      SELECT 1 FROM speakers s LEFT JOIN speaker_profiles p ON p.id = s.profile_id
      WHERE s.media_file_id = f.id
        AND lower(%(speaker)s::text) IN (lower(coalesce(s.display_name, s.label)), lower(p.name))))
AND (%(profile_uuid)s::uuid IS NULL OR EXISTS (
      SELECT 1 FROM speakers s JOIN speaker_profiles p ON p.id = s.profile_id
      WHERE s.media_file_id = f.id AND p.uuid = %(profile_uuid)s::uuid AND {{profile_readable}}))
AND (%(duration_min)s::float8 IS NULL OR f.duration >= %(duration_min)s::float8)
AND (%(duration_max)s::float8 IS NULL OR f.duration <= %(duration_max)s::float8)
AND (%(uploaded_from)s::timestamptz IS NULL OR f.upload_time >= %(uploaded_from)s::timestamptz)
AND (%(uploaded_to)s::timestamptz IS NULL OR f.upload_time < %(uploaded_to)s::timestamptz)
AND (%(recorded_from)s::timestamptz IS NULL OR f.creation_date >= %(recorded_from)s::timestamptz)
AND (%(recorded_to)s::timestamptz IS NULL OR f.creation_date < %(recorded_to)s::timestamptz)
AND (%(media_type)s::text IS NULL OR %(media_type)s::text = CASE
      WHEN starts_with(f.content_type, 'video/') OR f.resolution_width IS NOT NULL THEN 'video' ELSE 'audio' END)
AND (%(shared)s::text IS NULL OR (%(shared)s::text = 'mine') = (f.user_id = %(actor_id)s))
AND (%(topic)s::text IS NULL OR EXISTS (
      SELECT 1 FROM file_topics tp WHERE tp.media_file_id = f.id AND lower(tp.label) = lower(%(topic)s::text)))
AND (%(transcript)s::text IS NULL OR EXISTS (
      SELECT 1 FROM transcript_segments ts
      WHERE ts.media_file_id = f.id AND ts.search_vector @@ websearch_to_tsquery('english', %(transcript)s::text)))

-- fragment: passage_files
-- The files (aliased `f` inside) whose passages search by meaning may return (sql/meaning.sql): readable by the
-- actor, as in search.search, narrowed by the library filters and, for a question about one file or one collection,
-- to it (a collection the actor may read). An admin reaches others' files only in the all-files view
-- (actor_sees_all), exactly as search does.
SELECT f.id FROM media_files f
WHERE {{file_readable}}
  AND {{library_filter}}
  AND (%(file_id)s::bigint IS NULL OR f.id = %(file_id)s::bigint)
  AND (%(collection_id)s::bigint IS NULL OR f.id IN (
        SELECT cm.media_file_id FROM collection_members cm JOIN collections c ON c.id = cm.collection_id
        WHERE cm.collection_id = %(collection_id)s::bigint AND {{collection_readable}}))

-- The columns of an LLM run (repo/llm_runs.py's LlmRun), from a row aliased `r`.

-- fragment: llm_run_columns
r.id, r.uuid, r.kind, r.media_file_id, r.user_id, r.llm_configuration_id, r.provider, r.model_name, r.language,
r.options, r.status, r.cancel_requested, r.progress, r.transcript_version, r.requests, r.input_tokens,
r.output_tokens, r.error_message, r.raw_response, r.created_at, r.started_at, r.completed_at
