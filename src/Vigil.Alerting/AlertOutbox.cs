using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vigil.Rules;

namespace Vigil.Alerting;

/// <summary>A receiver as the outbox sees it: a stable name and an optional severity filter (null = every severity).</summary>
public sealed record OutboxReceiver(string Name, IReadOnlySet<Severity>? Severities = null)
{
    public bool Accepts(Severity severity) => Severities is null || Severities.Contains(severity);
}

/// <summary>
/// The durable outbox (<c>&lt;dataDir&gt;/alerts-outbox.db</c>, SQLite in WAL mode): every event is committed together with
/// one delivery row per receiver that accepts its severity before any delivery is attempted, so an event recorded
/// is never lost to a crash or restart. <see cref="DeliveryWorker"/>s drain the rows; the rows then stay as history.
/// An event id is recorded once: the rule engine hands a transition over again after a crash, with the same id, and
/// the second time is a no-op (decision 007).
/// One connection behind a lock: writes are a few per alert transition, far from SQLite's limits.
/// </summary>
public sealed class AlertOutbox : IAlertTransitionSink, IDisposable
{
    public const string FileName = "alerts-outbox.db";
    private const int SchemaVersion = 1;

    private readonly Lock _gate = new();
    private readonly SqliteConnection _db;
    private readonly IReadOnlyList<OutboxReceiver> _receivers;
    private readonly AlertEventFactory _factory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, ReceiverCounters> _counters = new(StringComparer.Ordinal);
    private long _recorded;
    private long _writeFailures;
    private bool _disposed;

    public AlertOutbox(string dataDirectory, IEnumerable<OutboxReceiver> receivers, TimeProvider timeProvider, ILogger? logger = null,
        AlertEventFactory? factory = null)
    {
        _receivers = receivers.ToList();
        _time = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        _factory = factory ?? new AlertEventFactory(null, timeProvider);
        foreach (var r in _receivers)
        {
            _counters[r.Name] = new ReceiverCounters();
        }

        Directory.CreateDirectory(dataDirectory);
        Path = System.IO.Path.Combine(dataDirectory, FileName);
        _db = OpenOrRecover();
        AbandonUnconfiguredReceivers();
    }

    /// <summary>Raised after an event and its delivery rows are committed (on the caller's thread): live stream, resender, worker wake-up.</summary>
    public event Action<AlertEvent>? Recorded;

    public string Path { get; }

    /// <summary>Where a corrupt outbox found at start was moved, if one was.</summary>
    public string? RecoveredCorruptFile { get; private set; }

    public IReadOnlyList<OutboxReceiver> Receivers => _receivers;

    /// <summary>
    /// The rule engine's hook: firing and resolved transitions become events; others are ignored. Returns once the
    /// event is committed (or was already, under the same id); throws when it cannot be, so the rule engine keeps the
    /// transition journaled and offers it again.
    /// </summary>
    public void OnTransition(AlertTransition transition)
    {
        var e = _factory.Create(transition);
        if (e is null)
        {
            return;
        }

        try
        {
            Enqueue(e);
        }
        catch (Exception ex) when (ex is SqliteException or IOException or ObjectDisposedException)
        {
            Interlocked.Increment(ref _writeFailures);
            _logger.LogError(ex, "Alert outbox: could not record {Status} event for {Group}/{Alert} {Labels}; the rule engine keeps it and offers it again",
                e.Status, e.Group, e.Rule, LabelSet.Key(e.Labels));
            throw;
        }
    }

    /// <summary>
    /// Commits <paramref name="e"/> with its delivery rows, then raises <see cref="Recorded"/>. Returns the receivers it
    /// was queued for; none when an event with its id is already recorded (nothing is written or raised again).
    /// </summary>
    public IReadOnlyList<string> Enqueue(AlertEvent e)
    {
        var now = Ms(_time.GetUtcNow());
        var targets = _receivers.Where(r => r.Accepts(e.Severity)).Select(r => r.Name).ToList();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var tx = _db.BeginTransaction();
            using var insert = Command(tx, """
                INSERT INTO events(id, rule, grp, fingerprint, severity, status, at_ms, created_ms, body)
                VALUES ($id, $rule, $grp, $fp, $sev, $status, $at, $created, $body)
                ON CONFLICT(id) DO NOTHING RETURNING seq
                """);
            insert.Parameters.AddWithValue("$id", e.Id);
            insert.Parameters.AddWithValue("$rule", e.Rule);
            insert.Parameters.AddWithValue("$grp", e.Group);
            insert.Parameters.AddWithValue("$fp", e.Fingerprint);
            insert.Parameters.AddWithValue("$sev", e.Severity.ToString());
            insert.Parameters.AddWithValue("$status", StatusText(e.Status));
            insert.Parameters.AddWithValue("$at", Ms(e.Timestamp));
            insert.Parameters.AddWithValue("$created", now);
            insert.Parameters.AddWithValue("$body", AlertEventJson.Serialize(e));
            if (insert.ExecuteScalar() is not long seq)
            {
                // Already recorded: a transition handed over again after a crash.
                return [];
            }

            using var delivery = Command(tx, """
                INSERT INTO deliveries(event_seq, receiver, state, attempts, next_attempt_ms, created_ms)
                VALUES ($seq, $receiver, 'pending', 0, $now, $now)
                """);
            delivery.Parameters.AddWithValue("$seq", seq);
            var receiver = delivery.Parameters.Add("$receiver", SqliteType.Text);
            delivery.Parameters.AddWithValue("$now", now);
            foreach (var name in targets)
            {
                receiver.Value = name;
                delivery.ExecuteNonQuery();
            }

            tx.Commit();
        }

        Interlocked.Increment(ref _recorded);
        Recorded?.Invoke(e);
        return targets;
    }

    /// <summary>Events with their per-receiver outcomes, newest first.</summary>
    public IReadOnlyList<AlertHistoryEntry> GetHistory(AlertHistoryQuery query)
    {
        var where = new List<string>();
        var parameters = new List<(string Name, object Value)>();
        if (query.Rule is not null)
        {
            where.Add("rule = $rule");
            parameters.Add(("$rule", query.Rule));
        }

        if (query.Severity is { } severity)
        {
            where.Add("severity = $sev");
            parameters.Add(("$sev", severity.ToString()));
        }

        if (query.Status is { } status)
        {
            where.Add("status = $status");
            parameters.Add(("$status", StatusText(status)));
        }

        if (query.From is { } from)
        {
            where.Add("at_ms >= $from");
            parameters.Add(("$from", Ms(from)));
        }

        if (query.To is { } to)
        {
            where.Add("at_ms <= $to");
            parameters.Add(("$to", Ms(to)));
        }

        if (query.Label is { } label)
        {
            // A JSON path with the name quoted, so dotted names (tenant.id) are one key; the name is a parameter, never SQL.
            where.Add("json_extract(body, $labelPath) = $labelValue");
            parameters.Add(("$labelPath", "$.labels.\"" + label.Key.Replace("\"", string.Empty, StringComparison.Ordinal) + "\""));
            parameters.Add(("$labelValue", label.Value));
        }

        parameters.Add(("$limit", Math.Clamp(query.Limit, 1, 10_000)));
        var sql = $"""
            SELECT e.seq, e.body, d.receiver, d.state, d.attempts, d.last_error, d.last_attempt_ms, d.next_attempt_ms, d.delivered_ms, d.expired_ms
            FROM (SELECT seq, body FROM events {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : string.Empty)} ORDER BY seq DESC LIMIT $limit) e
            LEFT JOIN deliveries d ON d.event_seq = e.seq
            ORDER BY e.seq DESC, d.receiver
            """;
        var entries = new List<AlertHistoryEntry>();

        // The connection is shared and not thread-safe: the command is created, run and disposed under the lock.
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = Command(null, sql);
            foreach (var (name, value) in parameters)
            {
                cmd.Parameters.AddWithValue(name, value);
            }

            using var reader = cmd.ExecuteReader();
            long current = -1;
            AlertEvent? e = null;
            List<DeliveryOutcome>? outcomes = null;
            while (reader.Read())
            {
                var seq = reader.GetInt64(0);
                if (seq != current)
                {
                    if (e is not null)
                    {
                        entries.Add(new AlertHistoryEntry(e, outcomes!));
                    }

                    current = seq;
                    e = AlertEventJson.Deserialize(reader.GetString(1));
                    outcomes = [];
                }

                if (!reader.IsDBNull(2))
                {
                    var state = ParseState(reader.GetString(3));
                    outcomes!.Add(new DeliveryOutcome(reader.GetString(2), state, reader.GetInt32(4), NullableString(reader, 5), Time(reader, 6),
                        state == DeliveryState.Pending ? Time(reader, 7) : null, Time(reader, 8), Time(reader, 9)));
                }
            }

            if (e is not null)
            {
                entries.Add(new AlertHistoryEntry(e, outcomes!));
            }
        }

        return entries;
    }

    /// <summary>Self-metrics; the stream and resender figures are passed in by whoever owns those parts.</summary>
    public AlertingMetricsSnapshot GetMetrics(long streamDropped = 0, int streamSubscribers = 0, long resendFailures = 0)
    {
        var pending = new Dictionary<string, long>(StringComparer.Ordinal);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = Command(null, "SELECT receiver, COUNT(*) FROM deliveries WHERE state = 'pending' GROUP BY receiver");
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                pending[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        var receivers = _receivers.Select(r =>
        {
            var c = CountersFor(r.Name);
            return new ReceiverMetrics(r.Name, c.Delivered, c.FailedAttempts, c.Expired, pending.GetValueOrDefault(r.Name));
        }).ToList();
        return new AlertingMetricsSnapshot(receivers, Interlocked.Read(ref _recorded), Interlocked.Read(ref _writeFailures), streamDropped,
            streamSubscribers, resendFailures);
    }

    /// <summary>Deletes finished events (no pending delivery) recorded before <paramref name="before"/>. Returns how many.</summary>
    public int Prune(DateTimeOffset before)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = Command(null, """
                DELETE FROM events WHERE created_ms < $before
                AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq AND d.state = 'pending')
                """);
            cmd.Parameters.AddWithValue("$before", Ms(before));
            return cmd.ExecuteNonQuery();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _db.Dispose();
        }
    }

    /// <summary>The oldest pending deliveries of <paramref name="receiver"/>, in event order.</summary>
    internal IReadOnlyList<PendingDelivery> PeekPending(string receiver, int limit)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = Command(null, """
                SELECT d.event_seq, e.body, d.attempts, d.next_attempt_ms, d.created_ms
                FROM deliveries d JOIN events e ON e.seq = d.event_seq
                WHERE d.receiver = $receiver AND d.state = 'pending'
                ORDER BY d.event_seq LIMIT $limit
                """);
            cmd.Parameters.AddWithValue("$receiver", receiver);
            cmd.Parameters.AddWithValue("$limit", limit);
            using var reader = cmd.ExecuteReader();
            var rows = new List<PendingDelivery>();
            while (reader.Read())
            {
                rows.Add(new PendingDelivery(reader.GetInt64(0), AlertEventJson.Deserialize(reader.GetString(1)), reader.GetInt32(2),
                    FromMs(reader.GetInt64(3)), FromMs(reader.GetInt64(4))));
            }

            return rows;
        }
    }

    /// <summary>Gives up pending deliveries of <paramref name="receiver"/> recorded at or before <paramref name="cutoff"/>.</summary>
    internal int Expire(string receiver, DateTimeOffset cutoff, DateTimeOffset now)
    {
        int n;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = Command(null, """
                UPDATE deliveries SET state = 'expired', expired_ms = $now
                WHERE receiver = $receiver AND state = 'pending' AND created_ms <= $cutoff
                """);
            cmd.Parameters.AddWithValue("$receiver", receiver);
            cmd.Parameters.AddWithValue("$cutoff", Ms(cutoff));
            cmd.Parameters.AddWithValue("$now", Ms(now));
            n = cmd.ExecuteNonQuery();
        }

        CountersFor(receiver).AddExpired(n);
        return n;
    }

    internal void MarkDelivered(string receiver, IReadOnlyList<PendingDelivery> batch, DateTimeOffset now)
    {
        Update(receiver, batch, """
            UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_attempt_ms = $now, delivered_ms = $now
            WHERE receiver = $receiver AND event_seq = $seq AND state = 'pending'
            """, now, null, null);
        CountersFor(receiver).AddDelivered(batch.Count);
    }

    internal void MarkFailed(string receiver, IReadOnlyList<PendingDelivery> batch, string error, DateTimeOffset now, DateTimeOffset nextAttempt)
    {
        Update(receiver, batch, """
            UPDATE deliveries SET attempts = attempts + 1, last_attempt_ms = $now, last_error = $error, next_attempt_ms = $next
            WHERE receiver = $receiver AND event_seq = $seq AND state = 'pending'
            """, now, error, nextAttempt);
        CountersFor(receiver).AddFailed(batch.Count);
    }

    private void Update(string receiver, IReadOnlyList<PendingDelivery> batch, string sql, DateTimeOffset now, string? error, DateTimeOffset? next)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var tx = _db.BeginTransaction();
            using var cmd = Command(tx, sql);
            cmd.Parameters.AddWithValue("$receiver", receiver);
            cmd.Parameters.AddWithValue("$now", Ms(now));
            if (error is not null)
            {
                cmd.Parameters.AddWithValue("$error", error.Length > 2000 ? error[..2000] : error);
            }

            if (next is { } n)
            {
                cmd.Parameters.AddWithValue("$next", Ms(n));
            }

            var seq = cmd.Parameters.Add("$seq", SqliteType.Integer);
            foreach (var row in batch)
            {
                seq.Value = row.Seq;
                cmd.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    private ReceiverCounters CountersFor(string receiver) => _counters.GetOrAdd(receiver, _ => new ReceiverCounters());

    private SqliteConnection OpenOrRecover()
    {
        try
        {
            return Open();
        }
        catch (SqliteException ex) when (File.Exists(Path))
        {
            var aside = $"{Path}.corrupt-{_time.GetUtcNow():yyyyMMdd'T'HHmmss'Z'}";
            SqliteConnection.ClearAllPools();
            File.Move(Path, aside, overwrite: true);
            foreach (var suffix in new[] { "-wal", "-shm" })
            {
                if (File.Exists(Path + suffix))
                {
                    File.Move(Path + suffix, aside + suffix, overwrite: true);
                }
            }

            RecoveredCorruptFile = aside;
            _logger.LogWarning(ex,
                "Alert outbox {Path} is unreadable ({Error}); moved it to {Aside} and started a fresh outbox. Deliveries pending in the old file are not retried; inspect it with sqlite3 if they matter",
                Path, ex.Message, aside);
            return Open();
        }
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        try
        {
            connection.Open();
            Exec(connection, "PRAGMA journal_mode = WAL");
            // FULL: an event acknowledged to the rule engine survives power loss, not just a crash. Transitions are rare.
            Exec(connection, "PRAGMA synchronous = FULL");
            Exec(connection, "PRAGMA foreign_keys = ON");
            Exec(connection, "PRAGMA busy_timeout = 5000");
            using (var check = connection.CreateCommand())
            {
                check.CommandText = "PRAGMA quick_check";
                var result = check.ExecuteScalar() as string;
                if (result != "ok")
                {
                    throw new SqliteException($"integrity check failed: {result}", 11);
                }
            }

            Exec(connection, $"""
                CREATE TABLE IF NOT EXISTS events(
                  seq INTEGER PRIMARY KEY AUTOINCREMENT,
                  id TEXT NOT NULL UNIQUE,
                  rule TEXT NOT NULL,
                  grp TEXT NOT NULL,
                  fingerprint TEXT NOT NULL,
                  severity TEXT NOT NULL,
                  status TEXT NOT NULL,
                  at_ms INTEGER NOT NULL,
                  created_ms INTEGER NOT NULL,
                  body TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS events_at ON events(at_ms);
                CREATE TABLE IF NOT EXISTS deliveries(
                  event_seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
                  receiver TEXT NOT NULL,
                  state TEXT NOT NULL,
                  attempts INTEGER NOT NULL,
                  last_error TEXT,
                  last_attempt_ms INTEGER,
                  next_attempt_ms INTEGER NOT NULL,
                  delivered_ms INTEGER,
                  expired_ms INTEGER,
                  created_ms INTEGER NOT NULL,
                  PRIMARY KEY(receiver, event_seq)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries(event_seq);
                PRAGMA user_version = {SchemaVersion};
                """);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private void AbandonUnconfiguredReceivers()
    {
        var known = _receivers.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var orphans = new List<(string Receiver, long Count)>();
        using (var cmd = Command(null, "SELECT receiver, COUNT(*) FROM deliveries WHERE state = 'pending' GROUP BY receiver"))
        using (var reader = cmd.ExecuteReader())
        {
            while (reader.Read())
            {
                if (!known.Contains(reader.GetString(0)))
                {
                    orphans.Add((reader.GetString(0), reader.GetInt64(1)));
                }
            }
        }

        foreach (var (receiver, count) in orphans)
        {
            using var cmd = Command(null, """
                UPDATE deliveries SET state = 'expired', expired_ms = $now, last_error = 'receiver no longer configured'
                WHERE receiver = $receiver AND state = 'pending'
                """);
            cmd.Parameters.AddWithValue("$receiver", receiver);
            cmd.Parameters.AddWithValue("$now", Ms(_time.GetUtcNow()));
            cmd.ExecuteNonQuery();
            _logger.LogWarning("Alert outbox: {Count} pending deliveries to {Receiver} given up: the receiver is no longer configured", count, receiver);
        }
    }

    private SqliteCommand Command(SqliteTransaction? tx, string sql)
    {
        var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return cmd;
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static string StatusText(AlertStatus status) => status == AlertStatus.Firing ? "firing" : "resolved";

    private static DeliveryState ParseState(string text) => text switch
    {
        "delivered" => DeliveryState.Delivered,
        "expired" => DeliveryState.Expired,
        _ => DeliveryState.Pending,
    };

    private static string? NullableString(SqliteDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);

    private static DateTimeOffset? Time(SqliteDataReader reader, int i) => reader.IsDBNull(i) ? null : FromMs(reader.GetInt64(i));

    internal static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    internal static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}

/// <summary>A pending delivery row: the event, how often it was tried, when it may be tried next, when it was recorded.</summary>
internal sealed record PendingDelivery(long Seq, AlertEvent Event, int Attempts, DateTimeOffset NextAttemptAt, DateTimeOffset CreatedAt);
