using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;

namespace Vigil.Rules;

/// <summary>
/// A persisted alert instance: which rule (by definition hash), which group-by labels, its state, and what a
/// resolution event needs if the rule is gone after a restart (severity, runbook, last rendered annotations).
/// </summary>
public sealed record StoredAlertState(
    string Group,
    string Alert,
    string DefinitionHash,
    IReadOnlyDictionary<string, string> Labels,
    AlertInstanceState State,
    Severity Severity,
    string RunbookUrl,
    IReadOnlyDictionary<string, string> Annotations);

/// <summary>
/// A transition written in the same transaction as the state it led to, not yet taken by the sink.
/// <see cref="Transition"/> is null for a row that no longer parses (a damaged file): nobody can be given it.
/// </summary>
public sealed record JournaledTransition(long Seq, AlertTransition? Transition);

/// <summary>Where <see cref="AlertStateStore"/> calls its fault-injection hook (tests only).</summary>
internal enum CommitStage
{
    /// <summary>The rows are written inside the transaction; nothing is committed yet.</summary>
    BeforeCommit,

    /// <summary>The state and its transitions are committed.</summary>
    AfterCommit,
}

/// <summary>
/// Alert state per instance in <c>&lt;dataDir&gt;/alerts.db</c>, so a restart neither re-waits <c>for</c> nor
/// forgets a firing alert. Each group's rows are replaced after the group is evaluated, and in the same transaction
/// the transitions that led to them are appended to a journal: a state change and the transition that announces it
/// are one commit, so no crash can leave a firing alert whose event is nowhere (decision 007). The rule engine
/// hands journaled transitions to its sink and deletes them once the sink has taken them.
/// </summary>
public sealed class AlertStateStore : IDisposable
{
    private static readonly JsonSerializerOptions JournalJson = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();
    private bool? _fullSync;

    public AlertStateStore(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        Path = System.IO.Path.Combine(dataDirectory, "alerts.db");
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        _connection.Open();
        Execute("PRAGMA journal_mode=WAL;");
        Durable(false);
        Execute("""
            CREATE TABLE IF NOT EXISTS alert_state (
                group_name TEXT NOT NULL,
                alert_name TEXT NOT NULL,
                definition_hash TEXT NOT NULL,
                labels_key TEXT NOT NULL,
                labels_json TEXT NOT NULL,
                state TEXT NOT NULL,
                active_at TEXT NULL,
                fired_at TEXT NULL,
                resolved_at TEXT NULL,
                keep_firing_since TEXT NULL,
                last_value REAL NULL,
                last_samples REAL NOT NULL,
                last_evaluation TEXT NULL,
                severity TEXT NOT NULL,
                runbook_url TEXT NOT NULL,
                annotations_json TEXT NOT NULL,
                PRIMARY KEY (group_name, alert_name, labels_key));
            CREATE TABLE IF NOT EXISTS transition_journal (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL,
                body TEXT NOT NULL);
            """);
    }

    /// <summary>Test seam: called at each <see cref="CommitStage"/> of a save; an exception there is a crash at that point.</summary>
    internal Action<CommitStage>? FaultInjection { get; set; }

    public string Path { get; }

    public static string HashOf(string definitionKey) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(definitionKey)));

    /// <summary>
    /// Replaces the stored instances of <paramref name="group"/> with <paramref name="states"/> and journals
    /// <paramref name="transitions"/>, in one transaction.
    /// </summary>
    public void SaveGroup(string group, IEnumerable<StoredAlertState> states, IReadOnlyCollection<AlertTransition> transitions) =>
        Save([(group, states)], replaceAll: false, transitions);

    /// <summary>
    /// Replaces every stored instance with <paramref name="groups"/> (groups not listed are removed) and journals
    /// <paramref name="transitions"/>, in one transaction: what a reload commits.
    /// </summary>
    public void SaveAll(IEnumerable<(string Group, IEnumerable<StoredAlertState> States)> groups, IReadOnlyCollection<AlertTransition> transitions) =>
        Save(groups, replaceAll: true, transitions);

    /// <summary>The oldest journaled transitions, in the order they were committed.</summary>
    public IReadOnlyList<JournaledTransition> ReadJournal(int limit)
    {
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = "SELECT seq, body FROM transition_journal ORDER BY seq LIMIT $limit";
            select.Parameters.AddWithValue("$limit", limit);
            using var reader = select.ExecuteReader();
            var result = new List<JournaledTransition>();
            while (reader.Read())
            {
                result.Add(new JournaledTransition(reader.GetInt64(0), ReadTransition(reader.GetString(1))));
            }

            return result;
        }
    }

    /// <summary>Deletes the journaled transitions up to and including <paramref name="seq"/>: the sink has them.</summary>
    public void Acknowledge(long seq)
    {
        lock (_lock)
        {
            // Losing an acknowledgement to a power cut only means the sink is offered the transition again.
            Durable(false);
            using var delete = _connection.CreateCommand();
            delete.CommandText = "DELETE FROM transition_journal WHERE seq <= $seq";
            delete.Parameters.AddWithValue("$seq", seq);
            delete.ExecuteNonQuery();
        }
    }

    public IReadOnlyList<StoredAlertState> LoadAll()
    {
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = """
                SELECT group_name, alert_name, definition_hash, labels_json, state, active_at, fired_at, resolved_at,
                       keep_firing_since, last_value, last_samples, last_evaluation, severity, runbook_url, annotations_json
                FROM alert_state ORDER BY group_name, alert_name, labels_key
                """;
            using var reader = select.ExecuteReader();
            var result = new List<StoredAlertState>();
            while (reader.Read())
            {
                var labels = JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(3)) ?? [];
                var state = new AlertInstanceState(
                    ParseState(reader.GetString(4)),
                    Time(reader, 5),
                    Time(reader, 6),
                    Time(reader, 7),
                    Time(reader, 8),
                    reader.IsDBNull(9) ? null : reader.GetDouble(9),
                    reader.GetDouble(10),
                    Time(reader, 11));
                var severity = Enum.TryParse<Severity>(reader.GetString(12), out var sv) ? sv : Severity.P4;
                var annotations = JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(14)) ?? [];
                result.Add(new StoredAlertState(reader.GetString(0), reader.GetString(1), reader.GetString(2), labels, state, severity, reader.GetString(13), annotations));
            }

            return result;
        }
    }

    public void Dispose() => _connection.Dispose();

    private void Save(IEnumerable<(string Group, IEnumerable<StoredAlertState> States)> groups, bool replaceAll, IReadOnlyCollection<AlertTransition> transitions)
    {
        lock (_lock)
        {
            Durable(transitions.Count > 0);
            using var tx = _connection.BeginTransaction();
            using var delete = _connection.CreateCommand();
            delete.Transaction = tx;
            delete.CommandText = replaceAll ? "DELETE FROM alert_state" : "DELETE FROM alert_state WHERE group_name = $g";
            var deleteGroup = delete.Parameters.Add("$g", SqliteType.Text);
            if (replaceAll)
            {
                delete.ExecuteNonQuery();
            }

            using var insert = _connection.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = """
                INSERT OR REPLACE INTO alert_state VALUES
                ($g, $a, $h, $k, $l, $s, $active, $fired, $resolved, $keep, $value, $samples, $eval, $sev, $rb, $ann)
                """;
            foreach (var (group, states) in groups)
            {
                if (!replaceAll)
                {
                    deleteGroup.Value = group;
                    delete.ExecuteNonQuery();
                }

                foreach (var s in states)
                {
                    insert.Parameters.Clear();
                    insert.Parameters.AddWithValue("$g", s.Group);
                    insert.Parameters.AddWithValue("$a", s.Alert);
                    insert.Parameters.AddWithValue("$h", s.DefinitionHash);
                    insert.Parameters.AddWithValue("$k", LabelSet.Key(s.Labels));
                    insert.Parameters.AddWithValue("$l", JsonSerializer.Serialize(LabelSet.Sorted(s.Labels)));
                    insert.Parameters.AddWithValue("$s", AlertStateMachine.Name(s.State.State));
                    insert.Parameters.AddWithValue("$active", Time(s.State.ActiveAt));
                    insert.Parameters.AddWithValue("$fired", Time(s.State.FiredAt));
                    insert.Parameters.AddWithValue("$resolved", Time(s.State.ResolvedAt));
                    insert.Parameters.AddWithValue("$keep", Time(s.State.KeepFiringSince));
                    insert.Parameters.AddWithValue("$value", s.State.LastValue is { } v && double.IsFinite(v) ? v : DBNull.Value);
                    insert.Parameters.AddWithValue("$samples", s.State.LastSamples);
                    insert.Parameters.AddWithValue("$eval", Time(s.State.LastEvaluation));
                    insert.Parameters.AddWithValue("$sev", s.Severity.ToString());
                    insert.Parameters.AddWithValue("$rb", s.RunbookUrl);
                    insert.Parameters.AddWithValue("$ann", JsonSerializer.Serialize(LabelSet.Sorted(s.Annotations)));
                    insert.ExecuteNonQuery();
                }
            }

            if (transitions.Count > 0)
            {
                using var journal = _connection.CreateCommand();
                journal.Transaction = tx;
                journal.CommandText = "INSERT INTO transition_journal (id, body) VALUES ($id, $body)";
                var id = journal.Parameters.Add("$id", SqliteType.Text);
                var body = journal.Parameters.Add("$body", SqliteType.Text);
                foreach (var t in transitions)
                {
                    id.Value = t.Id ?? string.Empty;
                    body.Value = JsonSerializer.Serialize(t, JournalJson);
                    journal.ExecuteNonQuery();
                }
            }

            FaultInjection?.Invoke(CommitStage.BeforeCommit);
            tx.Commit();
        }

        FaultInjection?.Invoke(CommitStage.AfterCommit);
    }

    /// <summary>
    /// A commit that journals a transition is fsynced (FULL) before anyone is handed the transition, so a power cut
    /// cannot keep an event in the outbox whose state change it lost. Saves without a transition (values, evaluation
    /// times) stay NORMAL as before: in WAL mode that survives a process crash, and the next FULL commit makes their
    /// frames durable too (the log is appended in order). The fsync costs about 15× a NORMAL save (decision 007).
    /// </summary>
    private void Durable(bool full)
    {
        if (_fullSync != full)
        {
            Execute(full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
            _fullSync = full;
        }
    }

    private static AlertTransition? ReadTransition(string json)
    {
        AlertTransition? t;
        try
        {
            t = JsonSerializer.Deserialize<AlertTransition>(json, JournalJson);
        }
        catch (JsonException)
        {
            return null;
        }

        if (t is null)
        {
            return null;
        }

        // The sink sees what the live path gives it: label and annotation maps sorted by name.
        return t with { Labels = LabelSet.Sorted(t.Labels), InstanceLabels = LabelSet.Sorted(t.InstanceLabels), Annotations = LabelSet.Sorted(t.Annotations) };
    }

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object Time(DateTimeOffset? t) =>
        t is { } v ? v.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : DBNull.Value;

    private static DateTimeOffset? Time(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal)
            ? null
            : DateTimeOffset.Parse(reader.GetString(ordinal), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static AlertState ParseState(string s) => s switch
    {
        "pending" => AlertState.Pending,
        "firing" => AlertState.Firing,
        "resolved" => AlertState.Resolved,
        _ => AlertState.Inactive,
    };
}
