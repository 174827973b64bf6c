using Microsoft.Data.Sqlite;

namespace Vigil.RemoteWrite;

/// <summary>One journaled aggregate sample: Prometheus labels (sorted, <c>__name__</c> included), time and value.</summary>
internal sealed record JournalSample(long Seq, long TimestampMs, IReadOnlyList<KeyValuePair<string, string>> Labels, double Value);

/// <summary>Where a queue is: the last aggregate sample and the last series bucket the receiver took.</summary>
internal sealed record QueueCursor(long AggregateSeq, long? AggregateInflight, long? SeriesBucketMs);

/// <summary>
/// What remote write keeps on disk (<c>&lt;data_dir&gt;/remote_write.db</c>, SQLite in WAL mode, fsync on commit):
/// <list type="bullet">
/// <item>the aggregates journal: each rule evaluation's recorded samples and ALERTS series, appended as it happens;</item>
/// <item>per queue, its cursor: the journal sequence and the series bucket the receiver acknowledged, and the
/// journal range of the request in flight, so a restart re-sends exactly that request first;</item>
/// <item>per queue, the running total of every counter-like series it sends (Prometheus counters are cumulative; Vigil
/// keeps deltas), committed with the cursor, so a restart continues the same totals.</item>
/// </list>
/// One connection behind a lock: a few transactions per bucket and per evaluation.
/// </summary>
internal sealed class RemoteWriteState : IDisposable
{
    public const string FileName = "remote_write.db";
    private const byte Separator = 0xFF;

    private readonly Lock _gate = new();
    private readonly SqliteConnection _db;

    public RemoteWriteState(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        Path = System.IO.Path.Combine(dataDirectory, FileName);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        _db.Open();
        Exec("PRAGMA journal_mode = WAL");
        Exec("PRAGMA synchronous = FULL");
        Exec("PRAGMA busy_timeout = 5000");
        Exec("""
            CREATE TABLE IF NOT EXISTS aggregate_samples (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL, labels BLOB NOT NULL, value REAL NOT NULL);
            CREATE INDEX IF NOT EXISTS aggregate_samples_ts ON aggregate_samples (ts_ms);
            CREATE TABLE IF NOT EXISTS cursors (
                queue TEXT PRIMARY KEY, aggregate_seq INTEGER NOT NULL, aggregate_inflight INTEGER, series_bucket_ms INTEGER);
            CREATE TABLE IF NOT EXISTS counter_totals (
                queue TEXT NOT NULL, id INTEGER NOT NULL, value REAL NOT NULL, last_ms INTEGER NOT NULL,
                PRIMARY KEY (queue, id)) WITHOUT ROWID;
            """);
    }

    public string Path { get; }

    /// <summary>Appends one evaluation's samples in one transaction.</summary>
    public void Append(IReadOnlyList<(long TimestampMs, IReadOnlyList<KeyValuePair<string, string>> Labels, double Value)> samples)
    {
        if (samples.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            using var insert = _db.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = "INSERT INTO aggregate_samples (ts_ms, labels, value) VALUES ($ts, $labels, $value)";
            var ts = insert.Parameters.Add("$ts", SqliteType.Integer);
            var labels = insert.Parameters.Add("$labels", SqliteType.Blob);
            var value = insert.Parameters.Add("$value", SqliteType.Real);
            foreach (var sample in samples)
            {
                ts.Value = sample.TimestampMs;
                labels.Value = PackLabels(sample.Labels);
                value.Value = sample.Value;
                insert.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    /// <summary>Journal samples after <paramref name="afterSeq"/>, oldest first, at most <paramref name="limit"/> (or up to <paramref name="untilSeq"/>).</summary>
    public List<JournalSample> ReadJournal(long afterSeq, int limit, long? untilSeq = null)
    {
        lock (_gate)
        {
            using var read = _db.CreateCommand();
            read.CommandText = untilSeq is null
                ? "SELECT seq, ts_ms, labels, value FROM aggregate_samples WHERE seq > $after ORDER BY seq LIMIT $limit"
                : "SELECT seq, ts_ms, labels, value FROM aggregate_samples WHERE seq > $after AND seq <= $until ORDER BY seq";
            read.Parameters.AddWithValue("$after", afterSeq);
            read.Parameters.AddWithValue("$limit", limit);
            read.Parameters.AddWithValue("$until", untilSeq ?? 0);
            using var reader = read.ExecuteReader();
            var result = new List<JournalSample>();
            while (reader.Read())
            {
                result.Add(new JournalSample(reader.GetInt64(0), reader.GetInt64(1), UnpackLabels((byte[])reader[2]), reader.GetDouble(3)));
            }

            return result;
        }
    }

    /// <summary>How many journal samples lie after a sequence number (a queue's pending aggregates).</summary>
    public long CountAfter(long seq)
    {
        lock (_gate)
        {
            using var count = _db.CreateCommand();
            count.CommandText = "SELECT COUNT(*) FROM aggregate_samples WHERE seq > $seq";
            count.Parameters.AddWithValue("$seq", seq);
            return (long)count.ExecuteScalar()!;
        }
    }

    /// <summary>The highest journal sequence number (0 when empty).</summary>
    public long LastSeq()
    {
        lock (_gate)
        {
            using var max = _db.CreateCommand();
            max.CommandText = "SELECT COALESCE(MAX(seq), 0) FROM aggregate_samples";
            return (long)max.ExecuteScalar()!;
        }
    }

    public QueueCursor? LoadCursor(string queue)
    {
        lock (_gate)
        {
            using var read = _db.CreateCommand();
            read.CommandText = "SELECT aggregate_seq, aggregate_inflight, series_bucket_ms FROM cursors WHERE queue = $queue";
            read.Parameters.AddWithValue("$queue", queue);
            using var reader = read.ExecuteReader();
            return reader.Read()
                ? new QueueCursor(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetInt64(2))
                : null;
        }
    }

    public Dictionary<ulong, double> LoadTotals(string queue)
    {
        lock (_gate)
        {
            using var read = _db.CreateCommand();
            read.CommandText = "SELECT id, value FROM counter_totals WHERE queue = $queue";
            read.Parameters.AddWithValue("$queue", queue);
            using var reader = read.ExecuteReader();
            var totals = new Dictionary<ulong, double>();
            while (reader.Read())
            {
                totals[unchecked((ulong)reader.GetInt64(0))] = reader.GetDouble(1);
            }

            return totals;
        }
    }

    /// <summary>Commits a queue's cursor, with the counter totals that changed since the last commit, in one transaction.</summary>
    public void SaveCursor(string queue, QueueCursor cursor, IReadOnlyList<(ulong Id, double Value)>? totals = null, long totalsAtMs = 0)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            using (var upsert = _db.CreateCommand())
            {
                upsert.Transaction = tx;
                upsert.CommandText = """
                    INSERT INTO cursors (queue, aggregate_seq, aggregate_inflight, series_bucket_ms) VALUES ($queue, $seq, $inflight, $bucket)
                    ON CONFLICT (queue) DO UPDATE SET aggregate_seq = excluded.aggregate_seq,
                        aggregate_inflight = excluded.aggregate_inflight, series_bucket_ms = excluded.series_bucket_ms
                    """;
                upsert.Parameters.AddWithValue("$queue", queue);
                upsert.Parameters.AddWithValue("$seq", cursor.AggregateSeq);
                upsert.Parameters.AddWithValue("$inflight", (object?)cursor.AggregateInflight ?? DBNull.Value);
                upsert.Parameters.AddWithValue("$bucket", (object?)cursor.SeriesBucketMs ?? DBNull.Value);
                upsert.ExecuteNonQuery();
            }

            if (totals is { Count: > 0 })
            {
                using var write = _db.CreateCommand();
                write.Transaction = tx;
                write.CommandText = """
                    INSERT INTO counter_totals (queue, id, value, last_ms) VALUES ($queue, $id, $value, $last)
                    ON CONFLICT (queue, id) DO UPDATE SET value = excluded.value, last_ms = excluded.last_ms
                    """;
                write.Parameters.AddWithValue("$queue", queue);
                var id = write.Parameters.Add("$id", SqliteType.Integer);
                var value = write.Parameters.Add("$value", SqliteType.Real);
                write.Parameters.AddWithValue("$last", totalsAtMs);
                foreach (var (seriesId, total) in totals)
                {
                    id.Value = unchecked((long)seriesId);
                    value.Value = total;
                    write.ExecuteNonQuery();
                }
            }

            tx.Commit();
        }
    }

    /// <summary>
    /// Drops what no queue needs any more: journal samples every aggregates queue has sent or that are older than
    /// <paramref name="oldestMs"/>; totals of series not sent since <paramref name="oldestMs"/>; queues no longer configured.
    /// </summary>
    public void Prune(IReadOnlyCollection<string> queues, long? journalSentByAll, long oldestMs)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            using var prune = _db.CreateCommand();
            prune.Transaction = tx;
            var names = string.Join(", ", queues.Select((_, i) => "$q" + i));
            prune.CommandText = $"""
                DELETE FROM aggregate_samples WHERE ts_ms < $oldest OR seq <= $sent;
                DELETE FROM counter_totals WHERE last_ms < $oldest OR queue NOT IN ({(names.Length == 0 ? "''" : names)});
                DELETE FROM cursors WHERE queue NOT IN ({(names.Length == 0 ? "''" : names)});
                """;
            prune.Parameters.AddWithValue("$oldest", oldestMs);
            prune.Parameters.AddWithValue("$sent", journalSentByAll ?? long.MinValue);
            var i = 0;
            foreach (var queue in queues)
            {
                prune.Parameters.AddWithValue("$q" + i++, queue);
            }

            prune.ExecuteNonQuery();
            tx.Commit();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _db.Dispose();
        }
    }

    private void Exec(string sql)
    {
        using var command = _db.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    // name 0xFF value 0xFF …: 0xFF never occurs in UTF-8, so no escaping is needed.
    private static byte[] PackLabels(IReadOnlyList<KeyValuePair<string, string>> labels)
    {
        var size = 0;
        foreach (var (name, value) in labels)
        {
            size += System.Text.Encoding.UTF8.GetByteCount(name) + System.Text.Encoding.UTF8.GetByteCount(value) + 2;
        }

        var bytes = new byte[size];
        var at = 0;
        foreach (var (name, value) in labels)
        {
            at += System.Text.Encoding.UTF8.GetBytes(name, bytes.AsSpan(at));
            bytes[at++] = Separator;
            at += System.Text.Encoding.UTF8.GetBytes(value, bytes.AsSpan(at));
            bytes[at++] = Separator;
        }

        return bytes;
    }

    private static List<KeyValuePair<string, string>> UnpackLabels(byte[] bytes)
    {
        var labels = new List<KeyValuePair<string, string>>();
        var span = bytes.AsSpan();
        while (span.Length > 0)
        {
            var name = span.IndexOf(Separator);
            var rest = span[(name + 1)..];
            var value = rest.IndexOf(Separator);
            labels.Add(new(System.Text.Encoding.UTF8.GetString(span[..name]), System.Text.Encoding.UTF8.GetString(rest[..value])));
            span = rest[(value + 1)..];
        }

        return labels;
    }
}
