namespace Vigil.Storage.Wal;

/// <summary>Write-ahead log settings (config section <c>wal</c>).</summary>
public sealed record WalOptions
{
    /// <summary>With the WAL off an acknowledged request lives only in memory (lost on a crash).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>A segment is closed and a new one started past this size.</summary>
    public long SegmentBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>A segment is also closed after this long, so old data can be dropped segment by segment.</summary>
    public TimeSpan SegmentDuration { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How often the window store is checkpointed (and at graceful shutdown): start-up then replays
    /// only the WAL written since the newest checkpoint, not the whole retention.
    /// </summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// While a write fails (a full disk) requests are refused as retryable, and the writer tries a real
    /// write this often; the first that succeeds makes the log (and /readyz) available again.
    /// </summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    public IReadOnlyList<string> Validate(string section = "wal")
    {
        var problems = new List<string>();
        if (SegmentBytes < 1024 * 1024 || SegmentBytes > 1L << 30)
        {
            problems.Add($"{section}.segment_size: must be from 1MiB to 1GiB");
        }

        if (SegmentDuration < TimeSpan.FromSeconds(10) || SegmentDuration > TimeSpan.FromDays(1))
        {
            problems.Add($"{section}.segment_duration: must be from 10s to 1d");
        }

        if (CheckpointInterval < TimeSpan.FromSeconds(10) || CheckpointInterval > TimeSpan.FromDays(1))
        {
            problems.Add($"{section}.checkpoint_interval: must be from 10s to 1d");
        }

        if (RetryInterval <= TimeSpan.Zero || RetryInterval > TimeSpan.FromHours(1))
        {
            problems.Add($"{section}.retry_interval: must be positive, at most 1h");
        }

        return problems;
    }
}
