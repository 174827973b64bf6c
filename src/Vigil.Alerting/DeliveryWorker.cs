using Vigil.Alerting.Implementation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Vigil.Alerting;

/// <summary>What one <see cref="DeliveryWorker.RunOnceAsync"/> step did.</summary>
public sealed record DeliveryStep(int Delivered, int Failed, int Expired, string? LastError, DateTimeOffset? NextDueAt);

/// <summary>
/// Drains one receiver's outbox rows, oldest first, in batches. A failed batch backs the receiver off exponentially
/// (initial × 2^(attempts−1), capped, with jitter) and keeps its place at the head of the line, so a receiver never
/// sees a resolve before the firing it resolves. Rows older than the max age are given up (expired). Each receiver
/// has its own worker: one failing receiver never holds up another. Drive it with <see cref="RunOnceAsync"/> (tests)
/// or <see cref="StartAsync"/> (a background loop that sleeps on the <see cref="TimeProvider"/> until the next row is due).
/// </summary>
public sealed class DeliveryWorker : IAsyncDisposable
{
    private readonly AlertOutbox _outbox;
    private readonly IAlertReceiver _receiver;
    private readonly RetryOptions _retry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Random _random;
    private readonly int _batchSize;
    private readonly SemaphoreSlim _step = new(1, 1);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly BackgroundLoop _loop;

    public DeliveryWorker(AlertOutbox outbox, IAlertReceiver receiver, RetryOptions retry, TimeProvider timeProvider, ILogger? logger = null,
        Random? random = null, int batchSize = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _outbox = outbox;
        _receiver = receiver;
        _retry = retry;
        _time = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        _random = random ?? new Random();
        _batchSize = batchSize;
        _loop = new BackgroundLoop($"the delivery worker for {receiver.Name}");
    }

    public string Receiver => _receiver.Name;

    /// <summary>
    /// One step at <paramref name="now"/>: expire rows past the max age, then deliver due batches until none is due or
    /// a batch fails. Never throws for a receiver failure; the outcome is recorded on the rows.
    /// </summary>
    public async Task<DeliveryStep> RunOnceAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await _step.WaitAsync(cancellationToken);
        try
        {
            var expired = _outbox.Expire(Receiver, now - _retry.MaxAge, now);
            if (expired > 0)
            {
                _logger.LogWarning("Alert delivery to {Receiver}: {Count} events expired undelivered after {MaxAge}", Receiver, expired, _retry.MaxAge);
            }

            var delivered = 0;
            while (true)
            {
                var batch = _outbox.PeekPending(Receiver, _batchSize);
                if (batch.Count == 0)
                {
                    return new DeliveryStep(delivered, 0, expired, null, null);
                }

                if (batch[0].NextAttemptAt > now)
                {
                    return new DeliveryStep(delivered, 0, expired, null, NextDue(batch[0]));
                }

                try
                {
                    await _receiver.DeliverAsync(batch.Select(r => r.Event).ToList(), cancellationToken);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    var attempts = batch[0].Attempts + 1;
                    var next = now + Backoff(attempts);
                    var error = ex is OperationCanceledException ? $"timed out: {ex.Message}" : ex.Message;
                    _outbox.MarkFailed(Receiver, batch, error, now, next);
                    _logger.LogWarning("Alert delivery to {Receiver} failed (attempt {Attempts}, {Count} events): {Error}; retrying at {Next:o}",
                        Receiver, attempts, batch.Count, error, next);
                    return new DeliveryStep(delivered, batch.Count, expired, error, next < batch[0].CreatedAt + _retry.MaxAge ? next : batch[0].CreatedAt + _retry.MaxAge);
                }

                _outbox.MarkDelivered(Receiver, batch, now);
                delivered += batch.Count;
            }
        }
        finally
        {
            _step.Release();
        }
    }

    /// <summary>The delay before attempt <paramref name="attempts"/> + 1, after <paramref name="attempts"/> failures.</summary>
    public TimeSpan Backoff(int attempts)
    {
        var exponent = Math.Min(Math.Max(attempts - 1, 0), 30);
        var baseTicks = Math.Min(_retry.InitialBackoff.Ticks * (double)(1L << exponent), _retry.MaxBackoff.Ticks);
        var factor = 1 + _retry.Jitter * (2 * _random.NextDouble() - 1);
        return TimeSpan.FromTicks((long)Math.Min(baseTicks * factor, _retry.MaxBackoff.Ticks));
    }

    /// <summary>Wakes the background loop: a new event was recorded.</summary>
    public void Signal() => Volatile.Read(ref _wake).TrySetResult();

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        _loop.Start(LoopAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken = default) => _loop.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _step.Dispose();
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var wake = Volatile.Read(ref _wake);
            DeliveryStep step;
            try
            {
                step = await RunOnceAsync(_time.GetUtcNow(), stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The outbox itself failed (disk, corruption mid-run): keep the loop alive and try again shortly.
                _logger.LogError(ex, "Alert delivery to {Receiver}: outbox error; retrying", Receiver);
                step = new DeliveryStep(0, 0, 0, ex.Message, _time.GetUtcNow() + _retry.InitialBackoff);
            }

            var delay = step.NextDueAt is { } due ? due - _time.GetUtcNow() : Timeout.InfiniteTimeSpan;
            if (step.NextDueAt is not null && delay <= TimeSpan.Zero)
            {
                continue;
            }

            using var sleep = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var timer = delay == Timeout.InfiniteTimeSpan ? Task.Delay(Timeout.Infinite, sleep.Token) : Task.Delay(delay, _time, sleep.Token);
            await Task.WhenAny(timer, wake.Task);
            await sleep.CancelAsync();
            if (wake.Task.IsCompleted)
            {
                Interlocked.CompareExchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), wake);
            }
        }
    }

    private DateTimeOffset NextDue(PendingDelivery head)
    {
        var expiry = head.CreatedAt + _retry.MaxAge;
        return head.NextAttemptAt < expiry ? head.NextAttemptAt : expiry;
    }
}
