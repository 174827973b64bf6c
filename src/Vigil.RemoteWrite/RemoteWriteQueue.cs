using Microsoft.Extensions.Logging;
using Vigil.RemoteWrite.Wire;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.RemoteWrite;

/// <summary>A queue's figures at one instant (counters since this process started).</summary>
public sealed record RemoteWriteQueueStatus(
    string Name,
    string Url,
    long SamplesSent,
    long SamplesFailed,
    long SamplesRetried,
    long SamplesPending,
    DateTimeOffset? HighestSent,
    TimeSpan Lag,
    string? LastError,
    DateTimeOffset? FailingSince);

/// <summary>
/// One remote: a loop that sends, oldest first, (1) the aggregates journal from its cursor and (2) the window store's
/// buckets from its cursor, each bucket once it is <c>series_delay</c> old. A request is retried while the receiver
/// answers 5xx or 429 (after Retry-After when given, else with doubling backoff) or cannot be reached, until its
/// samples are older than <c>max_age</c>; any other 4xx drops it (counted as failed). The cursor moves only after the
/// receiver took (or refused for good) everything before it, and is committed to disk before the next request: a
/// restart or an outage resumes where it stopped (at-least-once).
/// </summary>
internal sealed class RemoteWriteQueue : IDisposable
{
    private readonly RemoteWriteOptions _options;
    private readonly RemoteWriteState _state;
    private readonly WindowStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RemoteWriteClient _client;
    private readonly IReadOnlyList<IReadOnlyList<LabelMatcher>> _selectors;
    private readonly BucketCollector _collector;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _statusLock = new();
    private QueueCursor _cursor = new(0, null, null);
    private Dictionary<ulong, double> _totals = [];
    private long _sent;
    private long _failed;
    private long _retried;
    private long _pendingAggregates;
    private long _inflight;
    private long _highestSentMs = long.MinValue;
    private string? _lastError;
    private DateTimeOffset? _failingSince;

    public RemoteWriteQueue(RemoteWriteOptions options, RemoteWriteState state, WindowStore store, TimeProvider time, ILogger logger, HttpMessageHandler? handler = null)
    {
        _options = options;
        _state = state;
        _store = store;
        _time = time;
        _logger = logger;
        _client = new RemoteWriteClient(options, handler);
        _selectors = options.Selectors();
        _collector = new BucketCollector(_selectors);
    }

    public RemoteWriteOptions Options => _options;

    public string Name => _options.QueueName;

    /// <summary>The journal sequence this queue has sent up to (for pruning).</summary>
    public long AggregateSeq => Volatile.Read(ref _cursor).AggregateSeq;

    public RemoteWriteQueueStatus Status()
    {
        var highest = Interlocked.Read(ref _highestSentMs);
        DateTimeOffset? highestSent = highest == long.MinValue ? null : DateTimeOffset.FromUnixTimeMilliseconds(highest);
        var lag = highestSent is { } h ? _time.GetUtcNow() - h : TimeSpan.Zero;
        lock (_statusLock)
        {
            return new RemoteWriteQueueStatus(Name, _options.Url, Interlocked.Read(ref _sent), Interlocked.Read(ref _failed), Interlocked.Read(ref _retried),
                Interlocked.Read(ref _pendingAggregates) + Interlocked.Read(ref _inflight), highestSent, lag < TimeSpan.Zero ? TimeSpan.Zero : lag, _lastError, _failingSince);
        }
    }

    /// <summary>New aggregates were journaled: look now rather than at the next deadline.</summary>
    public void Wake() => Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public async Task RunAsync(CancellationToken stopping)
    {
        _cursor = _state.LoadCursor(Name) ?? new QueueCursor(0, null, null);
        _totals = _state.LoadTotals(Name);
        while (!stopping.IsCancellationRequested)
        {
            // Taken before looking for work: a wake-up during the pass completes this one, so none is lost.
            var woken = Volatile.Read(ref _wake).Task;
            try
            {
                var worked = false;
                if (_options.SendsAggregates)
                {
                    worked |= await SendAggregatesAsync(stopping);
                    Interlocked.Exchange(ref _pendingAggregates, _state.CountAfter(_cursor.AggregateSeq));
                }

                if (_options.SendsSeries)
                {
                    worked |= await SendNextBucketAsync(stopping);
                }

                if (!worked)
                {
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                    await Task.WhenAny(woken, Task.Delay(_options.Queue.BatchSendDeadline, _time, idle.Token));
                    await idle.CancelAsync();
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The disk or the store failed, not the receiver: nothing moved, so the same data is tried again.
                _logger.LogError(e, "Remote write {Queue}: {Error}; retrying", Name, e.Message);
                Failing(e.Message);
                await Task.Delay(_options.Queue.MaxBackoff, _time, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>Sends the next journal batch; false when there was none.</summary>
    private async Task<bool> SendAggregatesAsync(CancellationToken stopping)
    {
        // A request that was in flight at a crash is sent again first, with exactly its samples: a receiver that took it
        // then sees duplicates of samples it has, which Prometheus accepts, rather than a mix with newer ones.
        var rows = _cursor.AggregateInflight is { } until
            ? _state.ReadJournal(_cursor.AggregateSeq, 0, until)
            : _state.ReadJournal(_cursor.AggregateSeq, _options.Queue.MaxSamplesPerSend);
        if (rows.Count == 0)
        {
            if (_cursor.AggregateInflight is not null)
            {
                Commit(_cursor with { AggregateInflight = null });
            }

            return false;
        }

        var end = rows[^1].Seq;
        var oldest = (_time.GetUtcNow() - _options.Queue.MaxAge).ToUnixTimeMilliseconds();
        var encoder = new WriteRequestEncoder();
        long expired = 0, first = long.MaxValue, last = long.MinValue;
        foreach (var row in rows)
        {
            if (!SampleLabels.Matches(row.Labels, _selectors))
            {
                continue;
            }

            if (row.TimestampMs < oldest)
            {
                expired++;
                continue;
            }

            encoder.Add(WriteRequestEncoder.EncodeLabels(row.Labels), row.TimestampMs, row.Value);
            first = Math.Min(first, row.TimestampMs);
            last = Math.Max(last, row.TimestampMs);
        }

        if (expired > 0)
        {
            Interlocked.Add(ref _failed, expired);
            _logger.LogWarning("Remote write {Queue}: dropped {Count} aggregate sample(s) older than max_age {MaxAge}", Name, expired, _options.Queue.MaxAge);
        }

        if (encoder.Samples > 0)
        {
            Commit(_cursor with { AggregateInflight = end });
            Interlocked.Exchange(ref _inflight, encoder.Samples);
            if (await DeliverAsync(encoder.ToSnappy(), encoder.Samples, first, stopping))
            {
                Sent(last);
            }
        }

        Commit(_cursor with { AggregateSeq = end, AggregateInflight = null });
        Interlocked.Exchange(ref _inflight, 0);
        return true;
    }

    /// <summary>Sends the bucket after the cursor once it is closed; false when it is not closed yet.</summary>
    private async Task<bool> SendNextBucketAsync(CancellationToken stopping)
    {
        var resolution = _store.Options.Resolution;
        var now = _time.GetUtcNow();
        var floor = _store.BucketStartOf(now - _options.Queue.MaxAge);
        if (_store.OldestBucketStart > floor)
        {
            floor = _store.OldestBucketStart;
        }

        var next = _cursor.SeriesBucketMs is { } sent ? DateTimeOffset.FromUnixTimeMilliseconds(sent) + resolution : floor;
        if (next < floor)
        {
            _logger.LogWarning("Remote write {Queue}: buckets from {From:o} to {To:o} are past max_age or the retention and are not sent", Name, next, floor);
            next = floor;
        }

        if (next + resolution + _options.SeriesDelay > now)
        {
            return false;
        }

        _collector.Samples.Clear();
        _store.ReadBucket(next, _collector);
        var timestamp = (next + resolution).ToUnixTimeMilliseconds();
        var samples = _collector.Samples;
        var changed = new List<(ulong Id, double Value)>();
        var values = new double[samples.Count];
        for (var i = 0; i < samples.Count; i++)
        {
            var sample = samples[i];
            if (sample.Cumulative)
            {
                // Prometheus counters are running totals; Vigil keeps each bucket's delta.
                var total = _totals.GetValueOrDefault(sample.Id) + sample.Value;
                changed.Add((sample.Id, total));
                values[i] = total;
            }
            else
            {
                values[i] = sample.Value;
            }
        }

        if (samples.Count > 0)
        {
            Interlocked.Exchange(ref _inflight, samples.Count);
            var batch = _options.Queue.MaxSamplesPerSend;
            var requests = new List<(int From, int To)>();
            for (var from = 0; from < samples.Count; from += batch)
            {
                requests.Add((from, Math.Min(samples.Count, from + batch)));
            }

            // Each series appears once per bucket, so requests of one bucket may run side by side (shards) and a
            // series' samples still arrive in time order: the next bucket starts only after this one is done.
            var delivered = 0;
            await Parallel.ForEachAsync(requests, new ParallelOptions { MaxDegreeOfParallelism = _options.Queue.Shards, CancellationToken = stopping }, async (range, token) =>
            {
                var encoder = new WriteRequestEncoder();
                for (var i = range.From; i < range.To; i++)
                {
                    encoder.Add(samples[i].Labels, timestamp, values[i]);
                }

                if (await DeliverAsync(encoder.ToSnappy(), encoder.Samples, timestamp, token))
                {
                    Interlocked.Increment(ref delivered);
                }
            });
            if (delivered > 0)
            {
                Sent(timestamp);
            }
        }

        foreach (var (id, total) in changed)
        {
            _totals[id] = total;
        }

        Commit(_cursor with { SeriesBucketMs = next.ToUnixTimeMilliseconds() }, changed, timestamp);
        Interlocked.Exchange(ref _inflight, 0);
        return true;
    }

    /// <summary>Sends one request until the receiver takes it, refuses it for good, or its samples pass max_age.</summary>
    private async Task<bool> DeliverAsync(byte[] body, int samples, long oldestMs, CancellationToken stopping)
    {
        var backoff = _options.Queue.MinBackoff;
        while (true)
        {
            var outcome = await _client.SendAsync(body, _time, stopping);
            if (outcome.Success)
            {
                Interlocked.Add(ref _sent, samples);
                Healthy();
                return true;
            }

            if (!outcome.Retryable)
            {
                Interlocked.Add(ref _failed, samples);
                Failing(outcome.Message);
                _logger.LogWarning("Remote write {Queue}: the receiver refused {Count} sample(s) for good ({Error}); they are dropped", Name, samples, outcome.Message);
                return false;
            }

            Interlocked.Add(ref _retried, samples);
            Failing(outcome.Message);
            var now = _time.GetUtcNow();
            if (now - DateTimeOffset.FromUnixTimeMilliseconds(oldestMs) > _options.Queue.MaxAge)
            {
                Interlocked.Add(ref _failed, samples);
                _logger.LogWarning("Remote write {Queue}: dropped {Count} sample(s) older than max_age {MaxAge} after retrying ({Error})", Name, samples, _options.Queue.MaxAge, outcome.Message);
                return false;
            }

            var wait = outcome.RetryAfter ?? backoff;
            _logger.LogDebug("Remote write {Queue}: {Error}; retrying in {Wait}", Name, outcome.Message, wait);
            await Task.Delay(wait, _time, stopping);
            backoff = backoff * 2 > _options.Queue.MaxBackoff ? _options.Queue.MaxBackoff : backoff * 2;
        }
    }

    private void Commit(QueueCursor cursor, IReadOnlyList<(ulong Id, double Value)>? totals = null, long totalsAtMs = 0)
    {
        _state.SaveCursor(Name, cursor, totals, totalsAtMs);
        Volatile.Write(ref _cursor, cursor);
    }

    private void Sent(long timestampMs)
    {
        long current;
        do
        {
            current = Interlocked.Read(ref _highestSentMs);
            if (timestampMs <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _highestSentMs, timestampMs, current) != current);
    }

    private void Failing(string error)
    {
        lock (_statusLock)
        {
            _lastError = error;
            _failingSince ??= _time.GetUtcNow();
        }
    }

    private void Healthy()
    {
        lock (_statusLock)
        {
            _failingSince = null;
        }
    }

    public void Dispose()
    {
        _client.Dispose();
    }
}
