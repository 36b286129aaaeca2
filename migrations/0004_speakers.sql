-- Speakers across files: per-upload speaker-count hints and the diarization outcome on the file, a voice embedding
-- per speaker and per profile (real[], unit length, with a 256-bit SimHash signature that screens candidates before
-- the exact cosine; see README "Speakers across files"), how a speaker got its profile, and profile suggestions
-- (a rejected one is kept, so it is never suggested again).
-- depends: 0003_transcript_staging

ALTER TABLE media_files
    ADD COLUMN min_speakers integer CHECK (min_speakers BETWEEN 1 AND 100),
    ADD COLUMN max_speakers integer CHECK (max_speakers BETWEEN 1 AND 100),
    ADD COLUMN num_speakers integer CHECK (num_speakers BETWEEN 1 AND 100),
    ADD COLUMN diarization text CHECK (diarization IN ('diarized', 'off', 'models_missing', 'failed', 'transcript')),
    ADD CONSTRAINT media_files_speaker_hints_check CHECK (min_speakers <= max_speakers);

ALTER TABLE speakers
    ADD COLUMN embedding real[] CHECK (array_ndims(embedding) = 1 AND cardinality(embedding) BETWEEN 1 AND 4096),
    ADD COLUMN embedding_signature bit(256),
    ADD COLUMN embedding_seconds real CHECK (embedding_seconds >= 0),
    ADD COLUMN assigned_by text CHECK (assigned_by IN ('auto', 'user')),
    ADD CONSTRAINT speakers_embedding_signature_check CHECK ((embedding IS NULL) = (embedding_signature IS NULL));
CREATE INDEX speakers_voice_idx ON speakers (user_id) INCLUDE (id, media_file_id, embedding_signature)
    WHERE embedding_signature IS NOT NULL;

ALTER TABLE speaker_profiles
    ADD COLUMN embedding real[] CHECK (array_ndims(embedding) = 1 AND cardinality(embedding) BETWEEN 1 AND 4096),
    ADD COLUMN embedding_signature bit(256),
    ADD COLUMN embedding_weight real NOT NULL DEFAULT 0 CHECK (embedding_weight >= 0),
    ADD CONSTRAINT speaker_profiles_embedding_signature_check
        CHECK ((embedding IS NULL) = (embedding_signature IS NULL));

CREATE TABLE speaker_profile_suggestions (
    speaker_id bigint NOT NULL REFERENCES speakers (id) ON DELETE CASCADE,
    profile_id bigint NOT NULL REFERENCES speaker_profiles (id) ON DELETE CASCADE,
    confidence real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (speaker_id, profile_id)
);
CREATE INDEX speaker_profile_suggestions_profile_id_idx ON speaker_profile_suggestions (profile_id);
CREATE TRIGGER speaker_profile_suggestions_updated_at BEFORE UPDATE ON speaker_profile_suggestions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Cosine similarity of two unit-length embeddings (their dot product); NULL when the dimensions differ (embeddings
-- of two different models are not comparable). Clamped to [-1, 1] against float rounding.
CREATE FUNCTION voice_similarity(a real[], b real[]) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cardinality(a) = cardinality(b) THEN
        greatest(-1.0, least(1.0, (SELECT sum(x::float8 * y) FROM unnest(a, b) AS t (x, y))))
    END
$$;
