-- Undo 0024: the proposed speaker names go (names already accepted stay: they are the speakers' own now).
DROP TABLE speaker_name_proposals;
