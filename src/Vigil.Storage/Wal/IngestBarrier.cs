namespace Vigil.Storage.Wal;

/// <summary>
/// A small async reader/writer lock between ingest and checkpoints. Every request holds it shared from
/// before its WAL append until after it is applied; a checkpoint holds it exclusively, so when it has
/// it every logged record is applied and none is half-way: the store matches a WAL position exactly.
/// Shared entry passes through a <see cref="SemaphoreSlim"/> that the exclusive holder keeps, so new
/// requests wait while a checkpoint drains the ones in flight. Not reentrant.
/// </summary>
public sealed class IngestBarrier
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private int _shared;
    private TaskCompletionSource? _drained;

    public int SharedHolders => Volatile.Read(ref _shared);

    /// <summary>Completes synchronously (no allocation) unless a checkpoint holds the barrier.</summary>
    public ValueTask EnterSharedAsync(CancellationToken cancellationToken = default)
    {
        var wait = _gate.WaitAsync(cancellationToken);
        if (wait.IsCompletedSuccessfully)
        {
            PassGate();
            return ValueTask.CompletedTask;
        }

        return WaitForGateAsync(wait);
    }

    public void ExitShared()
    {
        // Decrement and read are both full fences, as are the exclusive side's exchange and read:
        // either the checkpoint sees zero or the last reader sees its completion source.
        if (Interlocked.Decrement(ref _shared) == 0)
        {
            Volatile.Read(ref _drained)?.TrySetResult();
        }
    }

    /// <summary>Blocks new shared holders, then waits until the current ones have left.</summary>
    public async Task EnterExclusiveAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _drained, drained);
        if (Interlocked.CompareExchange(ref _shared, 0, 0) == 0)
        {
            return;
        }

        try
        {
            await drained.Task.WaitAsync(cancellationToken);
        }
        catch
        {
            ExitExclusive();
            throw;
        }
    }

    public void ExitExclusive()
    {
        Volatile.Write(ref _drained, null);
        _gate.Release();
    }

    private async ValueTask WaitForGateAsync(Task wait)
    {
        await wait;
        PassGate();
    }

    private void PassGate()
    {
        Interlocked.Increment(ref _shared);
        _gate.Release();
    }
}
