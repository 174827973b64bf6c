using CsCheck;

namespace Vigil.Fuzz.Tests;

/// <summary>
/// One bounded fuzz pass: samples a generator for <see cref="Seconds"/> and fails on a property
/// violation (CsCheck shrinks it and prints a seed to replay) or on a hang (the input that never
/// finished is printed). The budget comes from <c>VIGIL_FUZZ_SECONDS</c> (default 20 s per target);
/// <c>tests/fuzz.sh</c> runs longer passes.
/// </summary>
internal static class FuzzRun
{
    /// <summary>An input still running after this long is a hang, not a slow case.</summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    public static int Seconds =>
        int.TryParse(Environment.GetEnvironmentVariable("VIGIL_FUZZ_SECONDS"), out var seconds) && seconds > 0 ? seconds : 20;

    public static void Run<T>(Gen<T> gen, Action<T> property, Func<T, string> print)
    {
        var running = new RunningInput<T>();
        var pass = Task.Run(() => gen.Sample(
            input =>
            {
                running.Start(input);
                property(input);
                running.Stop();
            },
            time: Seconds,
            threads: 1,
            print: print));

        // Shrinking a failure also takes time, so the pass gets its budget plus the hang limit.
        while (!pass.Wait(TimeSpan.FromSeconds(1)))
        {
            if (running.RunningFor() > HangLimit)
            {
                Assert.Fail($"fuzz input still running after {HangLimit.TotalSeconds} s (a hang): {print(running.Input!)}");
            }
        }

        pass.GetAwaiter().GetResult();
    }

    /// <summary>The input the property is working on, and since when (a hang watchdog's view).</summary>
    private sealed class RunningInput<T>
    {
        private readonly Lock _lock = new();
        private long _startedAt;

        public T? Input { get; private set; }

        public void Start(T input)
        {
            lock (_lock)
            {
                Input = input;
                _startedAt = Environment.TickCount64;
            }
        }

        public void Stop()
        {
            lock (_lock)
            {
                _startedAt = 0;
            }
        }

        public TimeSpan RunningFor()
        {
            lock (_lock)
            {
                return _startedAt == 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Environment.TickCount64 - _startedAt);
            }
        }
    }
}
