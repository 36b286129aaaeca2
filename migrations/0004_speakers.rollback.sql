-- Undo 0004: speaker hints, voice embeddings, profile suggestions.

DROP FUNCTION IF EXISTS voice_similarity(real[], real[]);
DROP TABLE IF EXISTS speaker_profile_suggestions;
ALTER TABLE speaker_profiles
    DROP CONSTRAINT IF EXISTS speaker_profiles_embedding_signature_check,
    DROP COLUMN IF EXISTS embedding_weight,
    DROP COLUMN IF EXISTS embedding_signature,
    DROP COLUMN IF EXISTS embedding;
DROP INDEX IF EXISTS speakers_voice_idx;
ALTER TABLE speakers
    DROP CONSTRAINT IF EXISTS speakers_embedding_signature_check,
    DROP COLUMN IF EXISTS assigned_by,
    DROP COLUMN IF EXISTS embedding_seconds,
    DROP COLUMN IF EXISTS embedding_signature,
    DROP COLUMN IF EXISTS embedding;
ALTER TABLE media_files
    DROP CONSTRAINT IF EXISTS media_files_speaker_hints_check,
    DROP COLUMN IF EXISTS diarization,
    DROP COLUMN IF EXISTS num_speakers,
    DROP COLUMN IF EXISTS max_speakers,
    DROP COLUMN IF EXISTS min_speakers;
