namespace Vigil.Rules;

/// <summary>A clock the rule test runner moves by hand; the runner calls evaluation itself, so no timers are needed.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Set(DateTimeOffset now) => _now = now;
}
