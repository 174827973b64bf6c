namespace Vigil.Alerting.Implementation;

/// <summary>
/// One background loop with an explicit start and a cooperative stop: what the delivery workers and
/// the Alertmanager re-sender share.
/// </summary>
internal sealed class BackgroundLoop(string name)
{
    private CancellationTokenSource? _stopping;
    private Task? _loop;

    public void Start(Func<CancellationToken, Task> body)
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException($"{name} is already started");
        }

        _stopping = new CancellationTokenSource();
        var token = _stopping.Token;
        _loop = Task.Run(() => body(token), CancellationToken.None);
    }

    /// <summary>Cancels the loop and waits for it; a wait cut short by <paramref name="cancellationToken"/> leaves it to finish alone.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loop is null || _stopping is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        try
        {
            await _loop.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Stopping mid-work: what was in flight stays pending and is picked up by the next start.
        }

        _stopping.Dispose();
        (_loop, _stopping) = (null, null);
    }
}
