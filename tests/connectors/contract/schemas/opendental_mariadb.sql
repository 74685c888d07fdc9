-- Open Dental's tables, as far as the opendental profile reads them, in MariaDB.
--
-- Column names and types from Open Dental's public schema (OpenDentBusiness/TableTypes,
-- the documentation's table reference). Like Open Dental: "empty" is 0, '' or 0001-01-01
-- rather than NULL; DateTStamp / SecDateTEdit update themselves on every change to the
-- second and have NO index; appointments and payments are deleted for real, and every
-- insert, change and deletion of an appointment writes a histappointment row. Only the
-- indexes Open Dental itself has on these columns are created (primary keys, PatNum,
-- AptNum, PayNum, ProcNum, Guarantor, AptDateTime).

CREATE TABLE definition (
    DefNum bigint(20) NOT NULL AUTO_INCREMENT,
    Category tinyint(4) NOT NULL DEFAULT 0,
    ItemOrder smallint(5) NOT NULL DEFAULT 0,
    ItemName varchar(255) NOT NULL DEFAULT '',
    ItemValue varchar(255) NOT NULL DEFAULT '',
    ItemColor int(11) NOT NULL DEFAULT 0,
    IsHidden tinyint(4) NOT NULL DEFAULT 0,
    PRIMARY KEY (DefNum)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE preference (
    PrefNum bigint(20) NOT NULL AUTO_INCREMENT,
    PrefName varchar(255) NOT NULL DEFAULT '',
    ValueString mediumtext NOT NULL,
    Comments text,
    PRIMARY KEY (PrefNum),
    KEY PrefName (PrefName)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE provider (
    ProvNum bigint(20) NOT NULL AUTO_INCREMENT,
    Abbr varchar(255) NOT NULL DEFAULT '',
    ItemOrder smallint(5) NOT NULL DEFAULT 0,
    LName varchar(100) NOT NULL DEFAULT '',
    FName varchar(100) NOT NULL DEFAULT '',
    MI varchar(100) NOT NULL DEFAULT '',
    Suffix varchar(100) NOT NULL DEFAULT '',
    Specialty bigint(20) NOT NULL DEFAULT 0,
    IsSecondary tinyint(4) NOT NULL DEFAULT 0,
    IsHidden tinyint(4) NOT NULL DEFAULT 0,
    DateTStamp timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (ProvNum)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE patient (
    PatNum bigint(20) NOT NULL AUTO_INCREMENT,
    LName varchar(100) NOT NULL DEFAULT '',
    FName varchar(100) NOT NULL DEFAULT '',
    MiddleI varchar(100) NOT NULL DEFAULT '',
    Preferred varchar(100) NOT NULL DEFAULT '',
    PatStatus tinyint(4) NOT NULL DEFAULT 0,
    Gender tinyint(4) NOT NULL DEFAULT 0,
    Position tinyint(4) NOT NULL DEFAULT 0,
    Birthdate date NOT NULL DEFAULT '0001-01-01',
    HmPhone varchar(30) NOT NULL DEFAULT '',
    WkPhone varchar(30) NOT NULL DEFAULT '',
    WirelessPhone varchar(30) NOT NULL DEFAULT '',
    Email varchar(100) NOT NULL DEFAULT '',
    TxtMsgOk tinyint(4) NOT NULL DEFAULT 0,
    Guarantor bigint(20) NOT NULL DEFAULT 0,
    PriProv bigint(20) NOT NULL DEFAULT 0,
    ClinicNum bigint(20) NOT NULL DEFAULT 0,
    DateFirstVisit date NOT NULL DEFAULT '0001-01-01',
    SecDateEntry date NOT NULL DEFAULT '0001-01-01',
    DateTStamp timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (PatNum),
    KEY indexLName (LName(10)),
    KEY Guarantor (Guarantor)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE appointment (
    AptNum bigint(20) NOT NULL AUTO_INCREMENT,
    PatNum bigint(20) NOT NULL DEFAULT 0,
    AptStatus tinyint(4) NOT NULL DEFAULT 0,
    Pattern varchar(255) NOT NULL DEFAULT '',
    Confirmed bigint(20) NOT NULL DEFAULT 0,
    Op bigint(20) NOT NULL DEFAULT 0,
    Note text,
    ProvNum bigint(20) NOT NULL DEFAULT 0,
    ProvHyg bigint(20) NOT NULL DEFAULT 0,
    AptDateTime datetime NOT NULL DEFAULT '0001-01-01 00:00:00',
    NextAptNum bigint(20) NOT NULL DEFAULT 0,
    ClinicNum bigint(20) NOT NULL DEFAULT 0,
    IsHygiene tinyint(4) NOT NULL DEFAULT 0,
    DateTStamp timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    DateTimeArrived datetime NOT NULL DEFAULT '0001-01-01 00:00:00',
    DateTimeSeated datetime NOT NULL DEFAULT '0001-01-01 00:00:00',
    DateTimeDismissed datetime NOT NULL DEFAULT '0001-01-01 00:00:00',
    SecDateTEntry datetime NOT NULL DEFAULT '0001-01-01 00:00:00',
    PRIMARY KEY (AptNum),
    KEY PatNum (PatNum),
    KEY AptDateTime (AptDateTime)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE histappointment (
    HistApptNum bigint(20) NOT NULL AUTO_INCREMENT,
    HistUserNum bigint(20) NOT NULL DEFAULT 0,
    HistDateTStamp datetime NOT NULL DEFAULT '0001-01-01 00:00:00',
    HistApptAction tinyint(4) NOT NULL DEFAULT 0,
    ApptSource tinyint(4) NOT NULL DEFAULT 0,
    AptNum bigint(20) NOT NULL DEFAULT 0,
    PatNum bigint(20) NOT NULL DEFAULT 0,
    AptStatus tinyint(4) NOT NULL DEFAULT 0,
    Pattern varchar(255) NOT NULL DEFAULT '',
    Confirmed bigint(20) NOT NULL DEFAULT 0,
    ProvNum bigint(20) NOT NULL DEFAULT 0,
    AptDateTime datetime NOT NULL DEFAULT '0001-01-01 00:00:00',
    ClinicNum bigint(20) NOT NULL DEFAULT 0,
    DateTimeArrived datetime NOT NULL DEFAULT '0001-01-01 00:00:00',
    PRIMARY KEY (HistApptNum),
    KEY AptNum (AptNum)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE procedurecode (
    CodeNum bigint(20) NOT NULL AUTO_INCREMENT,
    ProcCode varchar(15) NOT NULL DEFAULT '',
    Descript varchar(255) NOT NULL DEFAULT '',
    AbbrDesc varchar(50) NOT NULL DEFAULT '',
    PRIMARY KEY (CodeNum),
    KEY ProcCode (ProcCode)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE procedurelog (
    ProcNum bigint(20) NOT NULL AUTO_INCREMENT,
    PatNum bigint(20) NOT NULL DEFAULT 0,
    AptNum bigint(20) NOT NULL DEFAULT 0,
    ProcDate date NOT NULL DEFAULT '0001-01-01',
    ProcFee double NOT NULL DEFAULT 0,
    ProcStatus tinyint(4) NOT NULL DEFAULT 0,
    ProvNum bigint(20) NOT NULL DEFAULT 0,
    CodeNum bigint(20) NOT NULL DEFAULT 0,
    ClinicNum bigint(20) NOT NULL DEFAULT 0,
    DateTStamp timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (ProcNum),
    KEY PatNum (PatNum),
    KEY AptNum (AptNum)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE payment (
    PayNum bigint(20) NOT NULL AUTO_INCREMENT,
    PayType bigint(20) NOT NULL DEFAULT 0,
    PayDate date NOT NULL DEFAULT '0001-01-01',
    PayAmt double NOT NULL DEFAULT 0,
    CheckNum varchar(25) NOT NULL DEFAULT '',
    BankBranch varchar(25) NOT NULL DEFAULT '',
    PayNote text,
    IsSplit tinyint(4) NOT NULL DEFAULT 0,
    PatNum bigint(20) NOT NULL DEFAULT 0,
    ClinicNum bigint(20) NOT NULL DEFAULT 0,
    DateEntry date NOT NULL DEFAULT '0001-01-01',
    SecDateTEdit timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (PayNum),
    KEY PatNum (PatNum)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE paysplit (
    SplitNum bigint(20) NOT NULL AUTO_INCREMENT,
    SplitAmt double NOT NULL DEFAULT 0,
    PatNum bigint(20) NOT NULL DEFAULT 0,
    ProcDate date NOT NULL DEFAULT '0001-01-01',
    PayNum bigint(20) NOT NULL DEFAULT 0,
    ProvNum bigint(20) NOT NULL DEFAULT 0,
    PayPlanNum bigint(20) NOT NULL DEFAULT 0,
    DatePay date NOT NULL DEFAULT '0001-01-01',
    ProcNum bigint(20) NOT NULL DEFAULT 0,
    DateEntry date NOT NULL DEFAULT '0001-01-01',
    UnearnedType bigint(20) NOT NULL DEFAULT 0,
    ClinicNum bigint(20) NOT NULL DEFAULT 0,
    SecDateTEdit timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    FSplitNum bigint(20) NOT NULL DEFAULT 0,
    AdjNum bigint(20) NOT NULL DEFAULT 0,
    PayPlanChargeNum bigint(20) NOT NULL DEFAULT 0,
    PRIMARY KEY (SplitNum),
    KEY PayNum (PayNum),
    KEY PatNum (PatNum),
    KEY ProcNum (ProcNum)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Category 2: appointment confirmation states; 10: payment types; 35: provider specialties.
INSERT INTO definition (Category, ItemOrder, ItemName) VALUES
    (2, 0, 'Not Called'), (2, 1, 'Appointment Confirmed'),
    (10, 0, 'Cash'), (10, 1, 'Bonus'),
    (35, 0, 'General'), (35, 1, 'Oral Surgery');
INSERT INTO preference (PrefName, ValueString) VALUES
    ('ApptEConfirmStatusAccepted', '2'),
    ('AppointmentTimeIncrement', '10');
INSERT INTO procedurecode (ProcCode, Descript, AbbrDesc) VALUES
    ('D0120', 'periodic oral evaluation', 'PerEx'),
    ('D1110', 'prophylaxis - adult', 'Pro'),
    ('D9986', 'missed appointment', 'Missed'),
    ('D9987', 'cancelled appointment', 'Cancelled');
