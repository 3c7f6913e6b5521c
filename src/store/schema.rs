//! Versioned schema. Each entry is applied once, in order, inside a transaction, and
//! `PRAGMA user_version` records how far a database file has come. Never edit a released
//! migration: add a new one.

/// Migrations in order; `user_version` N means the first N have been applied.
pub const MIGRATIONS: &[&str] = &[
    // 1: mentions, their watches, full-text index, per-source state and the poll log.
    // New rows enter the full-text index from `Store::commit_poll`, not from a trigger: an
    // FTS5 insert run by a trigger costs four times as much per row.
    r#"
    CREATE TABLE mentions (
        id            INTEGER PRIMARY KEY,
        source        TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        external_id   TEXT    NOT NULL,
        url           TEXT,
        author_handle TEXT,
        author_name   TEXT,
        author_reach  INTEGER,
        lang          TEXT,
        title         TEXT,
        text          TEXT    NOT NULL,
        in_reply_to   TEXT,
        engagement    TEXT,
        created_at    INTEGER NOT NULL,
        fetched_at    INTEGER NOT NULL,
        watches       TEXT    NOT NULL,
        backfill      INTEGER NOT NULL DEFAULT 0,
        raw           TEXT,
        label         TEXT,
        sentiment     REAL,
        urgency       TEXT,
        spam          INTEGER,
        reasons       TEXT,
        classified_at INTEGER,
        UNIQUE (source, external_id)
    );
    CREATE INDEX mentions_created ON mentions (created_at);
    CREATE INDEX mentions_fetched ON mentions (fetched_at);

    CREATE TABLE mention_watches (
        mention_id INTEGER NOT NULL REFERENCES mentions (id) ON DELETE CASCADE,
        watch      TEXT    NOT NULL,
        PRIMARY KEY (watch, mention_id)
    ) WITHOUT ROWID;

    -- Mentions stored per UTC day (unix seconds of midnight), per source and per watch: what
    -- daily caps and `webcare sources` read, without counting rows. Every index on mentions
    -- costs each insert, so mentions carry only the ones reads need.
    CREATE TABLE daily_counts (
        day    INTEGER NOT NULL,
        scope  TEXT    NOT NULL,
        name   TEXT    NOT NULL,
        stored INTEGER NOT NULL,
        PRIMARY KEY (day, scope, name)
    ) WITHOUT ROWID;

    CREATE VIRTUAL TABLE mentions_fts USING fts5 (
        title, text, content = 'mentions', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER mentions_fts_delete AFTER DELETE ON mentions BEGIN
        INSERT INTO mentions_fts (mentions_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
    END;
    CREATE TRIGGER mentions_fts_update AFTER UPDATE OF title, text ON mentions BEGIN
        INSERT INTO mentions_fts (mentions_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO mentions_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
    END;

    CREATE TABLE source_state (
        source               TEXT PRIMARY KEY,
        kind                 TEXT    NOT NULL,
        cursor               TEXT,
        last_poll_at         INTEGER,
        last_success_at      INTEGER,
        last_error           TEXT,
        last_error_at        INTEGER,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_poll_at         INTEGER,
        items_stored         INTEGER NOT NULL DEFAULT 0,
        cap_note             TEXT
    );

    CREATE TABLE poll_log (
        id          INTEGER PRIMARY KEY,
        source      TEXT    NOT NULL,
        started_at  INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        outcome     TEXT    NOT NULL,
        fetched     INTEGER NOT NULL DEFAULT 0,
        stored      INTEGER NOT NULL DEFAULT 0,
        skipped     INTEGER NOT NULL DEFAULT 0,
        error       TEXT
    );
    CREATE INDEX poll_log_source ON poll_log (source, started_at);
    "#,
    // 2: staff corrections of classifier labels. A correction is copied into mentions.label
    // (label_source = 'staff') so every reader sees it; the table keeps who, when and what the
    // classifier had said, for export and evaluation.
    r#"
    ALTER TABLE mentions ADD COLUMN label_source TEXT;
    UPDATE mentions SET label_source = 'classifier' WHERE label IS NOT NULL;
    CREATE TABLE label_corrections (
        id             INTEGER PRIMARY KEY,
        mention_id     INTEGER NOT NULL REFERENCES mentions (id) ON DELETE CASCADE,
        label          TEXT    NOT NULL,
        previous_label TEXT,
        corrected_by   TEXT,
        corrected_at   INTEGER NOT NULL
    );
    CREATE INDEX label_corrections_mention ON label_corrections (mention_id);
    "#,
    // 3: notify: every mention is routed once (routed_at, route); alerts wait in the outbox, one
    // row per recipient, until the mail server accepts them. Mentions stored before this
    // migration count as routed, so an upgrade does not mail out the whole history.
    r#"
    ALTER TABLE mentions ADD COLUMN routed_at INTEGER;
    ALTER TABLE mentions ADD COLUMN route TEXT;
    UPDATE mentions SET routed_at = fetched_at;
    CREATE INDEX mentions_unrouted ON mentions (id) WHERE routed_at IS NULL;
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        mention_id      INTEGER REFERENCES mentions (id) ON DELETE SET NULL,
        team            TEXT    NOT NULL,
        rule            TEXT    NOT NULL,
        recipient       TEXT    NOT NULL,
        message_id      TEXT    NOT NULL UNIQUE,
        subject         TEXT    NOT NULL,
        body_text       TEXT    NOT NULL,
        body_html       TEXT    NOT NULL,
        urgent          INTEGER NOT NULL DEFAULT 0,
        state           TEXT    NOT NULL DEFAULT 'pending',
        created_at      INTEGER NOT NULL,
        not_before      INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        sent_at         INTEGER,
        reply           TEXT
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE INDEX outbox_recipient_sent ON outbox (recipient, sent_at);
    "#,
    // 4: retention and erasure. `stripped` marks a mention whose text and author were removed
    // by age; FTS5's secure-delete makes a removed entry leave the index's pages at once
    // instead of lingering until a merge; erased authors (hashed) are not stored again.
    r#"
    ALTER TABLE mentions ADD COLUMN stripped INTEGER NOT NULL DEFAULT 0;
    INSERT INTO mentions_fts (mentions_fts, rank) VALUES ('secure-delete', 1);
    CREATE TABLE erased_authors (
        kind       TEXT    NOT NULL,
        author_key TEXT    NOT NULL,
        erased_at  INTEGER NOT NULL,
        PRIMARY KEY (kind, author_key)
    ) WITHOUT ROWID;
    "#,
    // 5: digests and spike alerts. `digests` has one row per recipient list and period, written
    // in the same transaction as the digest's outbox rows, so a period is mailed once. An outbox
    // row says what it carries (`kind`: alert, digest or spike). `spike_episodes` remembers each
    // storm or drop so it is alerted once. `answered_at` is set by `webcare answered`.
    r#"
    ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert';
    ALTER TABLE mentions ADD COLUMN answered_at INTEGER;
    ALTER TABLE mentions ADD COLUMN answered_by TEXT;
    CREATE TABLE digests (
        list         TEXT    NOT NULL,
        period_start INTEGER NOT NULL,
        period_end   INTEGER NOT NULL,
        period       TEXT    NOT NULL,
        recipients   TEXT    NOT NULL,
        queued_at    INTEGER NOT NULL,
        late         INTEGER NOT NULL DEFAULT 0,
        sends        INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (list, period_start)
    );
    CREATE TABLE spike_episodes (
        id           INTEGER PRIMARY KEY,
        kind         TEXT    NOT NULL,
        scope        TEXT    NOT NULL,
        name         TEXT    NOT NULL,
        started_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        count        INTEGER NOT NULL,
        baseline     REAL    NOT NULL,
        threshold    REAL    NOT NULL,
        summary      TEXT    NOT NULL
    );
    CREATE INDEX spike_episodes_key ON spike_episodes (kind, scope, name, last_seen_at);
    CREATE INDEX spike_episodes_started ON spike_episodes (started_at);
    "#,
    // 6: alerts grow up. Mentions keep, when they repeat an earlier alerted mention (repost,
    // cross-post, copy-paste campaign), which one: the duplicate
    // is folded into that alert instead of raising its own. Outbox rows get a channel (email or
    // webhook), a kind (the column of migration 5; here also `cap_summary`, the mail that tells
    // a recipient how many alerts their hourly cap held back), the webhook body, the batch an email was sent in (fixed before the
    // first attempt so a retry sends the same message) and the cap summary a held alert belongs
    // to. Authors who asked not to be contacted are kept in `optouts`.
    r#"
    ALTER TABLE mentions ADD COLUMN duplicate_of INTEGER;
    CREATE INDEX mentions_duplicate_of ON mentions (duplicate_of) WHERE duplicate_of IS NOT NULL;
    ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
    ALTER TABLE outbox ADD COLUMN payload TEXT;
    ALTER TABLE outbox ADD COLUMN batch_id INTEGER;
    ALTER TABLE outbox ADD COLUMN summary_id INTEGER;
    CREATE INDEX outbox_created ON outbox (created_at);
    CREATE INDEX outbox_batch ON outbox (batch_id) WHERE batch_id IS NOT NULL;
    CREATE INDEX outbox_summary ON outbox (summary_id) WHERE summary_id IS NOT NULL;
    CREATE TABLE optouts (
        platform TEXT    NOT NULL,
        handle   TEXT    NOT NULL,
        added_at INTEGER NOT NULL,
        added_by TEXT,
        PRIMARY KEY (platform, handle)
    ) WITHOUT ROWID;
    "#,
    // 7: classifier store signals. `text_hash` is a stable hash of the normalised text (NULL
    // for short texts and for mentions stored before this migration), to count the authors of
    // one text; the reply index counts a thread's recent replies.
    r#"
    ALTER TABLE mentions ADD COLUMN text_hash INTEGER;
    CREATE INDEX mentions_text_hash ON mentions (text_hash, created_at) WHERE text_hash IS NOT NULL;
    CREATE INDEX mentions_reply ON mentions (source, in_reply_to, created_at) WHERE in_reply_to IS NOT NULL;
    "#,
    // 8: running totals of stored mentions per source, label and language, for the metrics
    // endpoint: counting the mentions table on every scrape took 1.5 s at a million rows.
    // `Store::commit_poll`, the one place that stores mentions, adds what it stored in one
    // statement per poll (an insert trigger would make SQLite keep a statement journal for
    // every row, which made storing 2.5 times slower); triggers follow the rarer deletes
    // (pruning, erasure) and relabelling. '' stands for an unknown label or language, since a
    // NULL never matches in a key.
    r#"
    CREATE TABLE mention_totals (
        source TEXT    NOT NULL,
        label  TEXT    NOT NULL,
        lang   TEXT    NOT NULL,
        n      INTEGER NOT NULL,
        PRIMARY KEY (source, label, lang)
    ) WITHOUT ROWID;
    INSERT INTO mention_totals
        SELECT source, coalesce(label, ''), coalesce(lang, ''), count(*) FROM mentions GROUP BY 1, 2, 3;
    CREATE TRIGGER mention_totals_delete AFTER DELETE ON mentions BEGIN
        UPDATE mention_totals SET n = n - 1
            WHERE source = old.source AND label = coalesce(old.label, '') AND lang = coalesce(old.lang, '');
    END;
    CREATE TRIGGER mention_totals_update AFTER UPDATE OF source, label, lang ON mentions
        WHEN old.source IS NOT new.source OR old.label IS NOT new.label OR old.lang IS NOT new.lang
    BEGIN
        UPDATE mention_totals SET n = n - 1
            WHERE source = old.source AND label = coalesce(old.label, '') AND lang = coalesce(old.lang, '');
        INSERT INTO mention_totals VALUES (new.source, coalesce(new.label, ''), coalesce(new.lang, ''), 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
    END;
    "#,
    // 9: the star rating of a review (1 to 5) from review sites and app stores; NULL for
    // posts and comments.
    r#"
    ALTER TABLE mentions ADD COLUMN rating INTEGER;
    "#,
    // 10: mail delivery health and dead letters put back. `mail_health` holds (at most) one row
    // while sending is paused (a stalled server: circuit breaker) or held (login refused, TLS not
    // trusted), naming the cause for `/healthz`. `outbox.retried_at` is when `webcare outbox
    // retry` put a dead letter back; the retry period starts again from there.
    r#"
    CREATE TABLE mail_health (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        cause        TEXT    NOT NULL,
        since        INTEGER NOT NULL,
        paused_until INTEGER NOT NULL
    );
    ALTER TABLE outbox ADD COLUMN retried_at INTEGER;
    "#,
    // 11: RSS authors. feed-rs stored every RSS 2.0 <author> (an e-mail address, optionally
    // with a name) as the literal name "author", which made all of them one person. Where the
    // raw payload names the author otherwise, that name is taken; else the bogus author is
    // cleared (the address itself was never kept).
    r#"
    UPDATE mentions SET
        author_handle = CASE WHEN json_valid(raw) THEN (
            SELECT value FROM json_each(raw, '$.authors')
            WHERE type = 'text' AND trim(value) NOT IN ('', 'author', 'unknown') LIMIT 1) END,
        author_name = CASE WHEN json_valid(raw) THEN (
            SELECT value FROM json_each(raw, '$.authors')
            WHERE type = 'text' AND trim(value) NOT IN ('', 'author', 'unknown') LIMIT 1) END
    WHERE kind = 'rss' AND (author_handle = 'author' OR author_name = 'author');
    "#,
    // 12: the web inbox. Staff claim mentions (`claimed_by`) and pin praise to the wall
    // (`pinned_at`); every action taken in the browser is kept in `mention_actions` with who
    // and when; `web_keys` holds the generated key that signs sessions and one-click links
    // when no key is configured. The partial index serves the inbox's default view.
    // `escalations` has one row per mention and team that missed the team's first-response
    // target, written in the same transaction as the escalation mails, so each goes out once.
    r#"
    ALTER TABLE mentions ADD COLUMN claimed_by TEXT;
    ALTER TABLE mentions ADD COLUMN claimed_at INTEGER;
    ALTER TABLE mentions ADD COLUMN pinned_at INTEGER;
    CREATE INDEX mentions_pinned ON mentions (pinned_at) WHERE pinned_at IS NOT NULL;
    CREATE INDEX mentions_open ON mentions ((urgency = 'urgent') DESC, created_at)
        WHERE answered_at IS NULL AND label IN ('complaint', 'question');
    CREATE TABLE mention_actions (
        id         INTEGER PRIMARY KEY,
        mention_id INTEGER NOT NULL REFERENCES mentions (id) ON DELETE CASCADE,
        action     TEXT    NOT NULL,
        detail     TEXT,
        done_by    TEXT    NOT NULL,
        done_at    INTEGER NOT NULL
    );
    CREATE INDEX mention_actions_mention ON mention_actions (mention_id, done_at);
    CREATE TABLE escalations (
        mention_id   INTEGER NOT NULL REFERENCES mentions (id) ON DELETE CASCADE,
        team         TEXT    NOT NULL,
        due_at       INTEGER NOT NULL,
        escalated_at INTEGER NOT NULL,
        PRIMARY KEY (mention_id, team)
    ) WITHOUT ROWID;
    CREATE TABLE web_keys (
        name       TEXT    PRIMARY KEY,
        key        BLOB    NOT NULL,
        created_at INTEGER NOT NULL
    );
    "#,
    // 13: the brand's own replies (`store/own_replies.rs`). A reply by one of a source's
    // `own_accounts` is kept here, keyed by the post it answers, until that post is stored as a
    // mention and marked answered (it may arrive in a later poll).
    r#"
    CREATE TABLE own_replies (
        source     TEXT    NOT NULL,
        parent     TEXT    NOT NULL,
        account    TEXT    NOT NULL,
        replied_at INTEGER NOT NULL,
        seen_at    INTEGER NOT NULL,
        PRIMARY KEY (source, parent)
    ) WITHOUT ROWID;
    "#,
    // 14: the classifier's trained models (`webcare train`, and the daemon's retraining after
    // `[classifier] retrain_after` corrections). Every model is kept with its cross-validated
    // score, so a worse one is never put in use and `webcare model use ID` can roll back; at
    // most one row is active. `corrections_seen` is the last `label_corrections` row it saw,
    // which tells the daemon how many corrections came after it.
    r#"
    CREATE TABLE models (
        id               INTEGER PRIMARY KEY,
        created_at       INTEGER NOT NULL,
        langs            TEXT    NOT NULL,
        examples         INTEGER NOT NULL,
        cv_score         REAL    NOT NULL,
        lexicon_score    REAL    NOT NULL,
        corrections_seen INTEGER NOT NULL,
        trained_by       TEXT    NOT NULL,
        note             TEXT    NOT NULL DEFAULT '',
        active           INTEGER NOT NULL DEFAULT 0,
        model            BLOB    NOT NULL
    );
    CREATE UNIQUE INDEX models_active ON models (active) WHERE active = 1;
    "#,
    // 15: mentions a platform announced by webhook (`store/announced.rs`): Instagram's
    // `mentions` webhook names a media or comment that @mentions the account, which only a
    // lookup by that id can read. Each stays here until a poll of its source has fetched it
    // and committed; `comment_id` is '' for a caption mention.
    r#"
    CREATE TABLE announced_mentions (
        id          INTEGER PRIMARY KEY,
        source      TEXT    NOT NULL,
        media_id    TEXT    NOT NULL,
        comment_id  TEXT    NOT NULL DEFAULT '',
        received_at INTEGER NOT NULL,
        UNIQUE (source, media_id, comment_id)
    );
    "#,
    // 16: FTS5 buffers new rows in memory up to `hashsize` bytes before writing a segment; at
    // the default 1 MiB a poll of thousands of mentions writes many small segments that are
    // then merged. 8 MiB makes a big poll write a few large ones (about 6 % off its commit).
    r#"
    INSERT INTO mentions_fts (mentions_fts, rank) VALUES ('hashsize', 8388608);
    "#,
    // 17: the full-text index only filters (`MATCH`), it never ranks, so it needs no per-row
    // token counts (`columnsize=0`): those were one more B-tree insert for every stored
    // mention, about 3 % of a big poll's commit. The index is built again from the mentions;
    // its settings live in its own tables, so they are set again.
    r#"
    DROP TABLE mentions_fts;
    CREATE VIRTUAL TABLE mentions_fts USING fts5 (
        title, text, content = 'mentions', content_rowid = 'id', columnsize = 0,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO mentions_fts (mentions_fts) VALUES ('rebuild');
    INSERT INTO mentions_fts (mentions_fts, rank) VALUES ('secure-delete', 1);
    INSERT INTO mentions_fts (mentions_fts, rank) VALUES ('hashsize', 8388608);
    "#,
    // 18: a mention's watches keyed by the mention first. Keyed by watch, every new link
    // went into the middle of the table (at the end of its watch's run), and SQLite
    // rebalanced the full pages there again and again; keyed by mention, new links are
    // appended. Deleting a mention (retention, erasure) now finds its links by key instead of
    // reading the whole table. Reads by watch go through the mentions they filter (time
    // window, other filters) and look each one up. A trigger deletes the links instead of a
    // foreign key: links are only written by the commit that stores their mention, so the
    // foreign key's check of every link found nothing and cost 3 % of a big poll's commit.
    r#"
    CREATE TABLE mention_watches_by_mention (
        mention_id INTEGER NOT NULL,
        watch      TEXT    NOT NULL,
        PRIMARY KEY (mention_id, watch)
    ) WITHOUT ROWID;
    INSERT INTO mention_watches_by_mention (mention_id, watch)
    SELECT mention_id, watch FROM mention_watches ORDER BY mention_id, watch;
    DROP TABLE mention_watches;
    ALTER TABLE mention_watches_by_mention RENAME TO mention_watches;
    CREATE TRIGGER mention_watches_delete AFTER DELETE ON mentions BEGIN
        DELETE FROM mention_watches WHERE mention_id = old.id;
    END;
    "#,
    // 19: the full-text index merges its segments once eight of a size have gathered instead
    // of four. Each merge writes its rows again, and at four a poll of 100,000 mentions spent
    // half its full-text work merging; at eight a search reads a few more segments.
    r#"
    INSERT INTO mentions_fts (mentions_fts, rank) VALUES ('automerge', 8);
    "#,
    // 20: each day's counter also keeps the smallest and largest id it counted, so a rare
    // watch's mentions are found by reading the links in those few id ranges instead of
    // every link (links are keyed by mention, not by watch, to keep the commit fast). The
    // ranges only ever widen (deletions leave them as they are), so a range holds every
    // stored mention of its day and name. NULL: nothing of that name is stored from that day.
    r#"
    ALTER TABLE daily_counts ADD COLUMN first_id INTEGER;
    ALTER TABLE daily_counts ADD COLUMN last_id INTEGER;
    UPDATE daily_counts SET first_id = r.lo, last_id = r.hi
    FROM (SELECT m.fetched_at - m.fetched_at % 86400 AS day, w.watch AS name,
                 min(m.id) AS lo, max(m.id) AS hi
          FROM mention_watches w JOIN mentions m ON m.id = w.mention_id
          GROUP BY 1, 2) AS r
    WHERE daily_counts.scope = 'watch' AND daily_counts.day = r.day
      AND daily_counts.name = r.name;
    UPDATE daily_counts SET first_id = r.lo, last_id = r.hi
    FROM (SELECT fetched_at - fetched_at % 86400 AS day, source AS name,
                 min(id) AS lo, max(id) AS hi
          FROM mentions GROUP BY 1, 2) AS r
    WHERE daily_counts.scope = 'source' AND daily_counts.day = r.day
      AND daily_counts.name = r.name;
    "#,
    // 21: a mention's watches are found from its own row instead of a table of links. Each
    // link was a statement run of its own in the commit (12 % of a big poll's writer, with
    // about two watches a mention); the `watches` column already held the same names. A
    // narrow index of id and watches, filled by the mention insert itself and always
    // appended to, keeps reading a rare watch's mentions cheap: by the days' id ranges or
    // whole, it reads index entries of a few dozen bytes instead of whole rows. Deleting a
    // mention takes its index entry with it, so the links' trigger goes too. The commit
    // always wrote both; a row whose column lacks one of its links (a database filled by
    // hand) gets its column from the links first.
    r#"
    UPDATE mentions
    SET watches = (SELECT group_concat(watch, ',') FROM mention_watches
                   WHERE mention_id = mentions.id)
    WHERE id IN (SELECT w.mention_id FROM mention_watches w JOIN mentions m ON m.id = w.mention_id
                 WHERE instr(',' || m.watches || ',', ',' || w.watch || ',') = 0);
    DROP TRIGGER mention_watches_delete;
    DROP TABLE mention_watches;
    CREATE INDEX mentions_watch_ids ON mentions (id, watches);
    "#,
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::store::MentionStore;

    /// A database at `old.db` in `dir` brought up to migration `version` only, as an older
    /// webcare left it.
    fn database_at(dir: &tempfile::TempDir, version: usize) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(dir.path().join("old.db")).unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        conn
    }

    #[test]
    fn mentions_stored_before_the_index_lost_its_token_counts_are_still_found_by_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = database_at(&dir, 16);
            conn.execute_batch(
                "INSERT INTO mentions (id, source, kind, external_id, title, text, created_at, fetched_at, watches)
                 VALUES (7, 's', 'rss', 'a', 'Storing', 'Geen internet in Zwolle sinds vanochtend', 0, 0, 'w');
                 INSERT INTO mentions_fts (rowid, title, text)
                 SELECT id, title, text FROM mentions;",
            )
            .unwrap();
        }
        let store = crate::store::Store::open(&path).unwrap();
        let found = |q: &str| -> Vec<i64> {
            store
                .mentions(&crate::store::MentionQuery::new().search(q))
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect()
        };
        assert_eq!(found("zwolle"), [7]);
        assert_eq!(found("\"geen internet\""), [7]);
        assert!(found("ziggo").is_empty());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let docsize: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'mentions_fts_docsize'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(docsize, 0, "columnsize=0 keeps no per-row token counts");
        let hashsize: i64 = conn
            .query_row(
                "SELECT v FROM mentions_fts_config WHERE k = 'hashsize'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hashsize, 8_388_608);
        let automerge: i64 = conn
            .query_row(
                "SELECT v FROM mentions_fts_config WHERE k = 'automerge'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(automerge, 8);
    }

    #[test]
    fn watch_links_of_an_older_database_are_found_by_watch_and_go_with_their_mention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = database_at(&dir, 17);
            conn.execute_batch(
                "INSERT INTO mentions (id, source, kind, external_id, text, created_at, fetched_at, watches)
                 VALUES (1, 's', 'rss', 'a', 'Storing in Zwolle', 0, 0, 'Outage,Fiber'),
                        (2, 's', 'rss', 'b', 'Glasvezel in Zwolle', 0, 0, '');
                 INSERT INTO mentions_fts (rowid, title, text) SELECT id, title, text FROM mentions;
                 INSERT INTO mention_watches (mention_id, watch)
                 VALUES (1, 'Outage'), (1, 'Fiber'), (2, 'Fiber');",
            )
            .unwrap();
        }
        let store = crate::store::Store::open(&path).unwrap();
        let of_watch = |w: &str| -> Vec<i64> {
            store
                .mentions(&crate::store::MentionQuery::new().watch(w))
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect()
        };
        assert_eq!(of_watch("Outage"), [1]);
        let mut fiber = of_watch("Fiber");
        fiber.sort();
        assert_eq!(fiber, [1, 2]);
        assert!(of_watch("Spam").is_empty());
        assert!(
            of_watch("Fib").is_empty(),
            "a watch is matched by its whole name"
        );
        // Mention 2's empty column was filled from its link.
        assert_eq!(store.mention(2).unwrap().unwrap().watches, ["Fiber"]);
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("DELETE FROM mentions WHERE id = 1", [])
            .unwrap();
        assert_eq!(of_watch("Fiber"), [2]);
        assert!(of_watch("Outage").is_empty());
    }

    #[test]
    fn an_upgraded_database_finds_a_rare_watch_in_the_id_ranges_of_its_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let day = 86_400;
        {
            // Three days of 100 mentions each; the rare watch on ids 50 and 250 only.
            let conn = database_at(&dir, 19);
            for id in 1..=300i64 {
                let fetched = 20_000 * day + (id - 1) / 100 * day + id;
                let rare = id == 50 || id == 250;
                conn.execute(
                    "INSERT INTO mentions (id, source, kind, external_id, text, created_at,
                        fetched_at, watches)
                     VALUES (?1, 's', 'rss', ?1, 'Fjordlink', ?2, ?2, '')",
                    rusqlite::params![id, fetched],
                )
                .unwrap();
                let mut watches = vec!["Fjordlink"];
                if rare {
                    watches.push("Fjordbox");
                }
                for w in watches {
                    conn.execute_batch(&format!(
                        "INSERT INTO mention_watches VALUES ({id}, '{w}');
                         INSERT INTO daily_counts (day, scope, name, stored)
                         VALUES ({}, 'watch', '{w}', 1)
                         ON CONFLICT DO UPDATE SET stored = stored + 1;",
                        fetched - fetched % day
                    ))
                    .unwrap();
                }
            }
            conn.execute_batch(
                "INSERT INTO daily_counts (day, scope, name, stored)
                 SELECT fetched_at - fetched_at % 86400, 'source', 's', count(*)
                 FROM mentions GROUP BY 1",
            )
            .unwrap();
        }
        let store = crate::store::Store::open(&path).unwrap();
        let ranges: Vec<(i64, i64)> = store
            .connection()
            .prepare(
                "SELECT first_id, last_id FROM daily_counts WHERE name = 'Fjordbox' ORDER BY day",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ranges, [(50, 50), (250, 250)]);
        let query = crate::store::MentionQuery::new()
            .watch("Fjordbox")
            .limit(50);
        let counts = store.watch_counts("Fjordbox").unwrap();
        assert_eq!((counts.matched, counts.span), (2.0, 2.0));
        assert_eq!(
            query.watch_plan(counts),
            crate::store::mention::WatchPlan::Ranges
        );
        let ids: Vec<i64> = store
            .mentions(&query.order(crate::store::MentionOrder::Stored))
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, [50, 250]);
    }

    #[test]
    fn rss_authors_stored_as_the_word_author_are_fixed_or_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = database_at(&dir, 8);
            let row = |id: &str, kind: &str, author: &str, raw: &str| {
                conn.execute(
                    "INSERT INTO mentions (source, kind, external_id, author_handle, author_name, text, created_at, fetched_at, watches, raw)
                     VALUES ('s', ?1, ?2, ?3, ?3, 't', 0, 0, '[]', ?4)",
                    rusqlite::params![kind, id, author, raw],
                )
                .unwrap();
            };
            row("a", "rss", "author", r#"{"authors":["author"]}"#);
            row(
                "b",
                "rss",
                "author",
                r#"{"authors":["author","Jan Jansen"]}"#,
            );
            row("c", "rss", "Piet", r#"{"authors":["Piet"]}"#);
            row("d", "mastodon", "author", "{}");
            row("e", "rss", "author", "not json");
        }
        crate::store::Store::open(&path).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let authors: Vec<(String, Option<String>, Option<String>)> = conn
            .prepare(
                "SELECT external_id, author_handle, author_name FROM mentions ORDER BY external_id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            authors,
            [
                ("a".into(), None, None),
                ("b".into(), some("Jan Jansen"), some("Jan Jansen")),
                ("c".into(), some("Piet"), some("Piet")),
                ("d".into(), some("author"), some("author")),
                ("e".into(), None, None),
            ]
        );
    }
}
