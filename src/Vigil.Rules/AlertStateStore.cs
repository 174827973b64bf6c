using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Vigil.Rules;

/// <summary>A persisted alert instance: which rule (by definition hash), which labels, and its state.</summary>
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
/// Alert state per instance in <c>&lt;dataDir&gt;/alerts.db</c>, so a restart neither re-waits <c>for</c> nor
/// forgets a firing alert. Each group's rows are replaced in one transaction after the group is evaluated.
/// </summary>
public sealed class AlertStateStore : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    public AlertStateStore(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        Path = System.IO.Path.Combine(dataDirectory, "alerts.db");
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        _connection.Open();
        Execute("PRAGMA journal_mode=WAL;");
        Execute("PRAGMA synchronous=NORMAL;");
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
            """);
    }

    public string Path { get; }

    public static string HashOf(string definitionKey) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(definitionKey)));

    /// <summary>Replaces the stored instances of <paramref name="group"/> with <paramref name="states"/>.</summary>
    public void SaveGroup(string group, IEnumerable<StoredAlertState> states)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using (var delete = _connection.CreateCommand())
            {
                delete.Transaction = tx;
                delete.CommandText = "DELETE FROM alert_state WHERE group_name = $g";
                delete.Parameters.AddWithValue("$g", group);
                delete.ExecuteNonQuery();
            }

            using var insert = _connection.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = """
                INSERT OR REPLACE INTO alert_state VALUES
                ($g, $a, $h, $k, $l, $s, $active, $fired, $resolved, $keep, $value, $samples, $eval, $sev, $rb, $ann)
                """;
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

            tx.Commit();
        }
    }

    /// <summary>Removes every stored instance of the groups not in <paramref name="keep"/>.</summary>
    public void RemoveGroupsExcept(IReadOnlyCollection<string> keep)
    {
        lock (_lock)
        {
            var stored = new List<string>();
            using (var select = _connection.CreateCommand())
            {
                select.CommandText = "SELECT DISTINCT group_name FROM alert_state";
                using var reader = select.ExecuteReader();
                while (reader.Read())
                {
                    stored.Add(reader.GetString(0));
                }
            }

            foreach (var group in stored.Where(g => !keep.Contains(g)))
            {
                using var delete = _connection.CreateCommand();
                delete.CommandText = "DELETE FROM alert_state WHERE group_name = $g";
                delete.Parameters.AddWithValue("$g", group);
                delete.ExecuteNonQuery();
            }
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
